import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../io/datasets.ts';
import { batchCycle, interpolationLoss, isLearnable, paramInfo, uploadTensors } from '../model/differentiable.ts';
import type { ModelGraph } from '../model/graph.ts';
import { BestSoFar, type LearnedOptions, type LearnedResult } from './learned.ts';
import { applyPermutations, identityPerm, type Perm } from './permute.ts';
import type { PermSpec } from '../model/permspec.ts';
import type { FloatTensor, StateDict } from '../model/tensor.ts';
import { weightMatching } from './weightMatching.ts';

export interface SteOptions extends LearnedOptions {
  /** weight-matching sweeps per projection (each is warm-started, so usually one or two) */
  maxIterations: number;
}

/**
 * Sized so a whole 6x128 MLP merge takes about a minute on wasm (measured 0.15 s per step there: a
 * warm-started weight matching, a forward and backward pass at batch 500, a selection pass; a 3x512
 * MLP takes about 1.2 s per step, most of it the 512-wide assignments).
 */
export const STE_DEFAULTS = { maxSteps: 200, learningRate: 1e-3, patience: 50 } as const;

const samePerms = (a: readonly Perm[], b: readonly Perm[]) => a.every((p, s) => p.every((v, i) => v === b[s][i]));

/**
 * Git Re-Basin's straight-through estimator. Free weights start at the target's (model A). Each step
 * projects them onto the permutations of the source (weight matching, warm-started from the last
 * projection), runs the midpoint 0.5 A + 0.5 P(B) forward on a calibration batch, and applies the
 * gradient with respect to P(B) to the free weights as if the projection were the identity.
 *
 * BatchNorm nets run in inference mode with the interpolated running statistics: the free weights
 * have none of their own, and batch statistics would make the loss depend on the batch's make-up.
 * The permutation kept is the one with the lowest midpoint loss on a fixed selection batch (the
 * first batch of the calibration data): step losses on different batches are not comparable.
 */
export function steRebasin(graph: ModelGraph, spec: PermSpec, target: StateDict, source: StateDict, data: Dataset, options: SteOptions): LearnedResult {
  // a net without hidden spaces (a single linear layer) has nothing to permute
  if (spec.spaces.length === 0) return { perms: [], iterations: 0, lossTrace: [] };
  const info = paramInfo(graph);
  const floatNames = [...info.keys()];
  const permuted = new Set(spec.spaces.flatMap((s) => s.axes.map((a) => a.tensor)));
  // only learnable tensors that some permutation moves can change a projection
  const freeNames = floatNames.filter((n) => isLearnable(info.get(n)!.param) && permuted.has(n));
  const a = uploadTensors(target, floatNames);
  const free = new Map(freeNames.map((n) => [n, tf.variable(a.get(n)!, true)]));
  const optimizer = tf.train.adam(options.learningRate);
  const next = batchCycle(graph, data, options.batchSize);
  const selection = batchCycle(graph, data, options.batchSize)();
  const tracker = new BestSoFar(options.patience);
  let perms: Perm[] = spec.spaces.map((s) => identityPerm(s.size));
  let best = perms;
  let evaluated: Perm[] | undefined;
  let selectionLoss = NaN;
  const lossTrace: number[] = [];
  let steps = 0;
  try {
    for (let step = 0; step < options.maxSteps; step++) {
      options.signal?.throwIfAborted();
      const freeState: StateDict = new Map(target);
      for (const [n, v] of free) freeState.set(n, { ...(target.get(n) as FloatTensor), data: v.dataSync() as Float32Array });
      perms = weightMatching(spec, freeState, source, { seed: options.seed + step, maxIterations: options.maxIterations, initial: perms, signal: options.signal }).perms;
      const projected = uploadTensors(applyPermutations(source, spec, perms), floatNames);
      const batch = next();
      try {
        const { value, grads } = tf.valueAndGrads((...ts: tf.Tensor[]) => {
          const b = new Map(projected);
          freeNames.forEach((n, i) => b.set(n, ts[i]));
          return interpolationLoss(graph, a, b, 0.5, batch.x, batch.y);
        })(freeNames.map((n) => projected.get(n)!));
        // straight through: d loss / d P(B) is taken as d loss / d free
        optimizer.applyGradients(freeNames.map((n, i) => ({ name: free.get(n)!.name, tensor: grads[i] })));
        value.dispose();
        grads.forEach((g) => g.dispose());
        if (!evaluated || !samePerms(evaluated, perms)) {
          const l = interpolationLoss(graph, a, projected, 0.5, selection.x, selection.y);
          selectionLoss = l.dataSync()[0];
          l.dispose();
          evaluated = perms;
        }
      } finally {
        projected.forEach((t) => t.dispose());
        batch.x.dispose();
        batch.y.dispose();
      }
      steps = step + 1;
      lossTrace.push(selectionLoss);
      if (tracker.offer(selectionLoss, step)) best = perms;
      options.onStep?.(steps, selectionLoss);
      if (tracker.exhausted) break;
    }
  } finally {
    a.forEach((t) => t.dispose());
    free.forEach((v) => v.dispose());
    optimizer.dispose();
    selection.x.dispose();
    selection.y.dispose();
  }
  return { perms: best.map((p) => Int32Array.from(p)), iterations: steps, lossTrace };
}
