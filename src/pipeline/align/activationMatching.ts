import type { Dataset } from '../io/datasets.ts';
import type { ModelGraph } from '../model/graph.ts';
import { assignUnit, permutationUnits } from './blocks.ts';
import type { PermSpec } from '../model/permspec.ts';
import type { StateDict } from '../model/tensor.ts';
import { tapId, type ActivationTap, type ForwardEngine } from '../runtime/engine.ts';
import type { Perm } from './permute.ts';

export type { ActivationTap };

/**
 * Which activations represent each space: the outputs of its 'nonlinearity' kinds (relu, gelu),
 * which for a residual stream are the block outputs; failing those, of its 'join' kinds (the adds:
 * a transformer's stream after each residual add, over all tokens); failing those, the inner
 * activations ops show for it (attention's q and k for the q/k space, v for the v space); failing
 * those, its last node.
 */
export function activationTaps(graph: ModelGraph, spec: PermSpec): ActivationTap[][] {
  return spec.spaces.map((space) => {
    const tapping = (tap: 'nonlinearity' | 'join') => space.nodes.filter((id) => graph.byId.get(id)!.kind.tap === tap);
    const act = tapping('nonlinearity');
    if (act.length) return act.map((node) => ({ node }));
    const joins = tapping('join');
    if (joins.length) return joins.map((node) => ({ node }));
    if (space.inner.length) return space.inner;
    return space.nodes.slice(-1).map((node) => ({ node }));
  });
}

/**
 * Activation matching: per space, the summed Pearson correlation between the target's and the
 * source's channel activations on calibration data (conv maps over N*H*W, tokens over N*T); then
 * per unit the assignment maximising it (block-tied spaces, attention's heads, solved together).
 */
export async function activationMatching(engine: ForwardEngine, graph: ModelGraph, spec: PermSpec, target: StateDict, source: StateDict, data: Dataset, signal?: AbortSignal): Promise<{ perms: Perm[]; iterations: number }> {
  const tapsOfSpace = activationTaps(graph, spec);
  const acc = await engine.correlations(graph, target, source, [...new Map(tapsOfSpace.flat().map((t) => [tapId(t), t])).values()], data, signal);
  const correlation = spec.spaces.map((space, s) => {
    const n = space.size;
    const total = new Float64Array(n * n);
    for (const t of tapsOfSpace[s]) {
      const corr = acc.get(tapId(t))!.correlation();
      for (let k = 0; k < total.length; k++) total[k] += corr[k];
    }
    return total;
  });
  const perms: Perm[] = new Array(spec.spaces.length);
  for (const unit of permutationUnits(spec)) {
    const solved = assignUnit(unit, unit.spaces.map((s) => correlation[s]));
    unit.spaces.forEach((s, m) => { perms[s] = solved[m]; });
  }
  return { perms, iterations: 1 };
}
