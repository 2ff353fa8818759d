import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../io/datasets.ts';
import { forward, loadModel } from '../model/forward.ts';
import type { ModelGraph } from '../model/graph.ts';
import { linearSumAssignment } from './lap.ts';
import { readTensors } from '../runtime/linalg.ts';
import { forEachBatch } from '../model/passes.ts';
import type { Perm } from './permute.ts';
import type { PermSpec } from '../model/permspec.ts';
import { CrossCorrelation } from '../stats.ts';
import type { StateDict } from '../model/tensor.ts';
import { taps } from '../model/wrappers.ts';
import { featuresOf } from '../layers/shape.ts';

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
export function activationMatching(graph: ModelGraph, spec: PermSpec, target: StateDict, source: StateDict, data: Dataset, batchSize: number, signal?: AbortSignal): { perms: Perm[]; iterations: number } {
  const tapsOfSpace = activationTaps(graph, spec);
  const tapNodes = new Set(tapsOfSpace.flat());
  const acc = new Map<string, CrossCorrelation>();
  for (const id of tapNodes) acc.set(id, new CrossCorrelation(featuresOf(graph.byId.get(id)!.shape)));
  const a = loadModel(graph, target);
  const b = loadModel(graph, source);
  try {
    forEachBatch(graph, data, batchSize, (x) => {
      const kept = new Map<string, tf.Tensor2D>();
      // features last, every position a row
      const wrap = taps(tapNodes, (node, y) => kept.set(node.id, tf.keep(tf.reshape(y, [-1, y.shape[y.rank - 1]!])) as tf.Tensor2D));
      forward(a, x, { wrap }).dispose();
      const fromA = new Map(kept);
      kept.clear();
      forward(b, x, { wrap }).dispose();
      for (const id of tapNodes) {
        const ya = fromA.get(id)!;
        const yb = kept.get(id)!;
        const sums = readTensors(() => [tf.sum(ya, 0), tf.sum(yb, 0), tf.sum(tf.square(ya), 0), tf.sum(tf.square(yb), 0), tf.matMul(ya, yb, true, false)]);
        acc.get(id)!.addBatch(ya.shape[0], sums[0], sums[1], sums[2], sums[3], sums[4]);
        ya.dispose();
        yb.dispose();
      }
    }, signal);
  } finally {
    a.dispose();
    b.dispose();
  }
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
