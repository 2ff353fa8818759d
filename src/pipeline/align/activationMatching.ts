import type { Dataset } from '../io/datasets.ts';
import type { ModelGraph } from '../model/graph.ts';
import type { PermSpec } from '../model/permspec.ts';
import type { StateDict } from '../model/tensor.ts';
import type { ForwardEngine } from '../runtime/engine.ts';
import { linearSumAssignment } from './lap.ts';
import type { Perm } from './permute.ts';

/**
 * Which node outputs represent each space: the outputs of its 'nonlinearity' kinds (relu, gelu),
 * which for a residual stream are the block outputs; failing those, of its 'join' kinds (the adds);
 * failing those, its last node.
 */
export function activationTaps(graph: ModelGraph, spec: PermSpec): string[][] {
  return spec.spaces.map((space) => {
    const tapping = (tap: 'nonlinearity' | 'join') => space.nodes.filter((id) => graph.byId.get(id)!.kind.tap === tap);
    const act = tapping('nonlinearity');
    if (act.length) return act;
    const joins = tapping('join');
    return joins.length ? joins : space.nodes.slice(-1);
  });
}

/**
 * Activation matching: per space, the assignment maximising the summed Pearson correlation between
 * the target's and the source's channel activations on calibration data (conv maps over N*H*W).
 */
export async function activationMatching(engine: ForwardEngine, graph: ModelGraph, spec: PermSpec, target: StateDict, source: StateDict, data: Dataset, signal?: AbortSignal): Promise<{ perms: Perm[]; iterations: number }> {
  const tapsOfSpace = activationTaps(graph, spec);
  const acc = await engine.correlations(graph, target, source, [...new Set(tapsOfSpace.flat())], data, signal);
  const perms = spec.spaces.map((space, s) => {
    const n = space.size;
    const total = new Float64Array(n * n);
    for (const id of tapsOfSpace[s]) {
      const corr = acc.get(id)!.correlation();
      for (let k = 0; k < total.length; k++) total[k] += corr[k];
    }
    return linearSumAssignment(total, n, n, { maximize: true });
  });
  return { perms, iterations: 1 };
}
