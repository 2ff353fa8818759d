import * as tf from '@tensorflow/tfjs-core';
import type { LearnedLoss } from '../../contracts/index.ts';
import type { Dataset } from '../io/datasets.ts';
import { batchCycle, interpolationLoss, isLearnable, logSinkhorn, mixState, paramInfo, uploadTensors } from '../model/differentiable.ts';
import type { ModelGraph } from '../model/graph.ts';
import { linearSumAssignment } from './lap.ts';
import { BestSoFar, type LearnedOptions, type LearnedResult } from './learned.ts';
import { identityPerm, type Perm } from './permute.ts';
import type { PermSpec } from '../model/permspec.ts';
import { gaussian, mulberry32 } from '../random.ts';
import type { FloatTensor, StateDict } from '../model/tensor.ts';
import { weightMatching } from './weightMatching.ts';

export interface SinkhornOptions extends LearnedOptions {
  /** divides the logits before Sinkhorn: lower is sharper */
  temperature: number;
  /** row and column normalisations per step */
  iterations: number;
  loss: LearnedLoss;
  /** where the logits start: the weight-matching solution (what merges use) or the identity */
  init: 'weight' | 'identity';
  /** weight-matching sweeps for the 'weight' start */
  maxIterations: number;
}

/**
 * maxSteps sized so a whole 6x128 MLP merge takes about a minute on wasm (measured 0.21 s per step
 * with the l2 loss, 0.24 s with a task loss, on an idle machine; most of it the 20 unrolled Sinkhorn
 * iterations and their gradient per 128x128 space). A 3x512 MLP takes about 2 s per step.
 */
export const SINKHORN_DEFAULTS = { maxSteps: 150, learningRate: 0.1, patience: 30, temperature: 1, sinkhornIterations: 20, loss: 'l2' } as const;

export interface SinkhornResult extends LearnedResult {
  /** per space, the kept logits ([n, n] row-major) that were rounded; sinkhornProject gives their soft permutation */
  logits: Float32Array[];
}

/** Row and column sums of a projected soft permutation are 1 within this (Float64, so reachable at any n). */
export const SOFT_TOLERANCE = 1e-9;
/** Bound on the projection's work (iterations x n^2): about a second on one thread. */
const SOFT_MAX_WORK = 5e7;

/**
 * The Sinkhorn projection of logits / temperature run to convergence on the host in Float64 (log
 * domain): the soft permutation the learned logits stand for. Training unrolls a fixed, small number
 * of iterations in float32 for its gradients; this is what gets reported and checked.
 */
export function sinkhornProject(logits: ArrayLike<number>, n: number, temperature: number, tolerance = SOFT_TOLERANCE, maxIterations = Math.ceil(SOFT_MAX_WORK / (n * n))): Float64Array {
  const l = Float64Array.from(logits, (v) => v / temperature);
  const lse = (get: (k: number) => number) => {
    let m = -Infinity;
    for (let k = 0; k < n; k++) m = Math.max(m, get(k));
    let s = 0;
    for (let k = 0; k < n; k++) s += Math.exp(get(k) - m);
    return m + Math.log(s);
  };
  const p = new Float64Array(n * n);
  for (let it = 0; it < maxIterations; it++) {
    for (let i = 0; i < n; i++) {
      const z = lse((j) => l[i * n + j]);
      for (let j = 0; j < n; j++) l[i * n + j] -= z;
    }
    for (let j = 0; j < n; j++) {
      const z = lse((i) => l[i * n + j]);
      for (let i = 0; i < n; i++) l[i * n + j] -= z;
    }
    // columns are exact after their step; rows tell whether it has converged
    for (let k = 0; k < p.length; k++) p[k] = Math.exp(l[k]);
    let worst = 0;
    for (let i = 0; i < n; i++) {
      let row = 0;
      for (let j = 0; j < n; j++) row += p[i * n + j];
      worst = Math.max(worst, Math.abs(row - 1));
    }
    if (worst <= tolerance) break;
  }
  return p;
}

/** Smoothing of the stochastic task losses before early stopping compares them. */
const EMA = 0.9;
/** Scale of the seeded noise that breaks ties between equal logits. */
const NOISE = 0.01;

/**
 * Sinkhorn re-basin (Peña et al. 2023): one free logit matrix per permutation space, made doubly
 * stochastic by log-domain Sinkhorn, trained by Adam, rounded to a hard permutation at the end by
 * the assignment maximising the summed logits (the Sinkhorn scalings add a constant per row and
 * column, so this is also the assignment maximising the summed log-probabilities).
 *
 * The logits start at log(n) on a starting permutation and 0 elsewhere (times the temperature), so
 * each row's soft start puts about half its mass on that permutation: sharp enough to begin from a
 * good basin, soft enough that gradients are not saturated. Merges start from the weight-matching
 * solution, which makes the method a refinement of it rather than a search from scratch.
 *
 * Losses: 'l2' (data-free) is the mean squared distance between the target's learnable permuted
 * tensors and the softly permuted source's; 'midpoint' / 'random' are the cross-entropy of the
 * interpolation at alpha 0.5 / a seeded uniform alpha per step, BatchNorm in inference mode with the
 * interpolated (softly permuted) running statistics.
 */
export function sinkhornRebasin(graph: ModelGraph, spec: PermSpec, target: StateDict, source: StateDict, data: Dataset, options: SinkhornOptions): SinkhornResult {
  // a net without hidden spaces (a single linear layer) has nothing to permute
  if (spec.spaces.length === 0) return { perms: [], iterations: 0, lossTrace: [], logits: [] };
  const info = paramInfo(graph);
  const floatNames = [...info.keys()];
  const task = options.loss !== 'l2';
  const permuted = new Set(spec.spaces.flatMap((s) => s.axes.map((a) => a.tensor)));
  // running statistics are not weights, and tensors outside every space only add a constant
  const l2Names = floatNames.filter((n) => isLearnable(info.get(n)!.param) && permuted.has(n));
  const l2Count = l2Names.reduce((s, n) => s + (target.get(n) as FloatTensor).data.length, 0);
  const names = task ? floatNames : l2Names;
  const start = options.init === 'weight'
    ? weightMatching(spec, target, source, { seed: options.seed, maxIterations: options.maxIterations, signal: options.signal }).perms
    : spec.spaces.map((s) => identityPerm(s.size));
  const noise = gaussian(mulberry32(options.seed));
  const uniform = mulberry32(options.seed + 1);
  const logits = spec.spaces.map((space, s) => {
    const n = space.size;
    const peak = Math.log(Math.max(n, 2));
    const m = new Float32Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m[i * n + j] = options.temperature * ((j === start[s][i] ? peak : 0) + NOISE * noise());
    const t = tf.tensor2d(m, [n, n]);
    const v = tf.variable(t, true);
    t.dispose();
    return v;
  });
  const a = uploadTensors(target, names);
  const b = uploadTensors(source, names);
  const next = task ? batchCycle(graph, data, options.batchSize) : undefined;
  const optimizer = tf.train.adam(options.learningRate);
  const tracker = new BestSoFar(options.patience);
  // a soft permutation mixes units across attention heads, which no symmetry allows: block-tied
  // spaces stay at their starting permutation (hard) while the free ones are learned
  const held = new Set(spec.blocks.flatMap((b) => b.spaces));
  const hard = spec.spaces.map((space, s) => (held.has(s) ? tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(start[s], 'int32'), space.size), 'float32') as tf.Tensor2D) : undefined));
  const learned = logits.filter((_, s) => !held.has(s));
  const soften = () => logits.map((m, s) => hard[s] ?? tf.exp(logSinkhorn(tf.div(m, options.temperature) as tf.Tensor2D, options.iterations)) as tf.Tensor2D);
  let best = logits.map((m) => (m.dataSync() as Float32Array).slice());
  const lossTrace: number[] = [];
  let smoothed = NaN;
  let steps = 0;
  try {
    for (let step = 0; step < options.maxSteps; step++) {
      options.signal?.throwIfAborted();
      const before = logits.map((m) => (m.dataSync() as Float32Array).slice());
      const alpha = options.loss === 'random' ? uniform() : 0.5;
      const batch = next?.();
      let loss: number;
      try {
        const cost = optimizer.minimize(() => tf.tidy(() => {
          const mixed = mixState(b, spec, soften());
          if (batch) return interpolationLoss(graph, a, mixed, alpha, batch.x, batch.y);
          return tf.div(tf.addN(l2Names.map((n) => tf.sum(tf.squaredDifference(a.get(n)!, mixed.get(n)!)))), l2Count) as tf.Scalar;
        }), true, learned)!;
        loss = cost.dataSync()[0];
        cost.dispose();
      } finally {
        batch?.x.dispose();
        batch?.y.dispose();
      }
      // the l2 loss is exact; a task loss is one batch (and, for 'random', one alpha): smooth it
      smoothed = task && Number.isFinite(smoothed) ? EMA * smoothed + (1 - EMA) * loss : loss;
      steps = step + 1;
      lossTrace.push(smoothed);
      if (tracker.offer(smoothed, step)) best = before;
      options.onStep?.(steps, smoothed);
      if (tracker.exhausted) break;
    }
  } finally {
    a.forEach((t) => t.dispose());
    b.forEach((t) => t.dispose());
    logits.forEach((v) => v.dispose());
    hard.forEach((t) => t?.dispose());
    optimizer.dispose();
  }
  const perms: Perm[] = best.map((m, s) => linearSumAssignment(Float64Array.from(m), spec.spaces[s].size, spec.spaces[s].size, { maximize: true }));
  return { perms, iterations: steps, lossTrace, logits: best };
}
