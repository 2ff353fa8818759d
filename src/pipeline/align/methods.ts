import type { AlignmentMethod, AlignmentOptions } from '../../contracts/index.ts';
import { activationMatching } from './activationMatching.ts';
import type { Dataset } from '../io/datasets.ts';
import { MergeError } from '../errors.ts';
import type { ModelGraph } from '../model/graph.ts';
import { meanStates } from '../model/interpolate.ts';
import { applyPermutations, identityPerm, invertPerm, type Perm } from './permute.ts';
import type { PermSpec } from '../model/permspec.ts';
import { SINKHORN_DEFAULTS, sinkhornRebasin } from './sinkhorn.ts';
import { STE_DEFAULTS, steRebasin } from './ste.ts';
import type { StateDict } from '../model/tensor.ts';
import type { ForwardEngine } from '../runtime/engine.ts';
import { weightMatching } from './weightMatching.ts';

/** The request's options for the learned methods (ste, sinkhorn); unset ones take each method's defaults. */
export type LearnedRequestOptions = Partial<Pick<Extract<AlignmentOptions, { method: 'sinkhorn' }>, 'maxSteps' | 'learningRate' | 'patience' | 'temperature' | 'sinkhornIterations' | 'loss'>>;
/** The learned options a request's `alignment` carries (none for the other methods). */
export const learnedOptions = (a: AlignmentOptions): LearnedRequestOptions => (a.method === 'ste' || a.method === 'sinkhorn' ? a : {});

export interface AlignContext {
  graph: ModelGraph;
  spec: PermSpec;
  models: readonly StateDict[];
  calibration: Dataset;
  /** the forward passes without gradient (activation matching's statistics) */
  engine: ForwardEngine;
  /** batch of the learned methods' optimiser steps (tfjs) */
  batchSize: number;
  seed: number;
  maxIterations: number;
  strategy: 'first' | 'mergemany';
  /** ste / sinkhorn settings (absent: defaults) */
  learned?: LearnedRequestOptions;
  signal?: AbortSignal;
  /** fraction of the alignment done */
  progress: (fraction: number) => void;
}
export interface Alignment {
  /** every model in the first model's basis (the first unchanged) */
  aligned: StateDict[];
  /** per model, one permutation per space */
  perms: Perm[][];
  iterations: number;
  /** learned methods, per model after the first: the monitored loss at each step */
  lossTrace?: number[][];
}

/** One module per method behind one interface, chosen by name (as mergekit does for merge methods). */
export interface AlignmentMethodImpl {
  /** whether these options read calibration data (sinkhorn does only with a task loss) */
  needsData(options: LearnedRequestOptions): boolean;
  align(ctx: AlignContext): Promise<Alignment>;
}

const identities = (spec: PermSpec) => spec.spaces.map((s) => identityPerm(s.size));

/** Align each model to the first, one pairwise problem at a time. */
type PairSolution = { perms: Perm[]; iterations: number; lossTrace?: number[] };
async function toFirst(ctx: AlignContext, solve: (target: StateDict, source: StateDict, progress: (f: number) => void) => PairSolution | Promise<PairSolution>): Promise<Alignment> {
  const [first, ...rest] = ctx.models;
  const perms: Perm[][] = [identities(ctx.spec)];
  const aligned = [first];
  const traces: number[][] = [];
  let iterations = 0;
  for (const [i, model] of rest.entries()) {
    const r = await solve(first, model, (f) => ctx.progress((i + Math.min(f, 0.99)) / rest.length));
    perms.push(r.perms);
    aligned.push(applyPermutations(model, ctx.spec, r.perms));
    iterations = Math.max(iterations, r.iterations);
    if (r.lossTrace) traces.push(r.lossTrace);
    ctx.progress((i + 1) / rest.length);
  }
  return { aligned, perms, iterations, ...(traces.length ? { lossTrace: traces } : {}) };
}

/** The learned methods align pairwise to the first model; MergeMany's rounds would multiply their cost. */
function refuseMergeMany(ctx: AlignContext, method: string): void {
  if (ctx.strategy === 'mergemany' && ctx.models.length > 2) {
    throw new MergeError('unsupported_combination', `alignment.strategy "mergemany" needs alignment.method "weight" (not "${method}")`);
  }
}

/**
 * MergeMany: repeatedly align each model (from its original weights) to the mean of the others.
 * Started from the align-to-first solution: from identities the first means are blurs of
 * unaligned nets, and coordinate ascent can settle in a basis no model agrees with.
 */
function mergeMany(ctx: AlignContext, start: Alignment): Alignment {
  const n = ctx.models.length;
  const perms: Perm[][] = start.perms.map((ps) => ps.map((p) => Int32Array.from(p)));
  const aligned = [...start.aligned];
  let rounds = 0;
  for (let round = 0; round < ctx.maxIterations; round++) {
    rounds = round + 1;
    let changed = false;
    for (let i = 0; i < n; i++) {
      const others = meanStates(aligned.filter((_, j) => j !== i));
      const r = weightMatching(ctx.spec, others, ctx.models[i], { seed: ctx.seed + round * n + i, maxIterations: ctx.maxIterations, initial: perms[i], signal: ctx.signal });
      if (r.perms.some((p, s) => p.some((v, k) => v !== perms[i][s][k]))) changed = true;
      perms[i] = r.perms;
      aligned[i] = applyPermutations(ctx.models[i], ctx.spec, r.perms);
    }
    ctx.progress(Math.min(1, (round + 1) / 10));
    if (!changed) break;
  }
  // express everything in the first model's basis so the sweep starts at an unchanged model 0
  const back = perms[0].map(invertPerm);
  const rebased = perms.map((ps) => ps.map((p, s) => Int32Array.from(back[s], (k) => p[k])));
  return { aligned: ctx.models.map((m, i) => (i === 0 ? m : applyPermutations(m, ctx.spec, rebased[i]))), perms: rebased, iterations: rounds };
}

/** What both learned methods take from the request: the step budget and optimiser, over their own defaults. */
function learnedBase(ctx: AlignContext, defaults: { maxSteps: number; learningRate: number; patience: number }, progress: (f: number) => void) {
  const o = ctx.learned ?? {};
  const maxSteps = o.maxSteps ?? defaults.maxSteps;
  return {
    maxSteps, learningRate: o.learningRate ?? defaults.learningRate, patience: o.patience ?? defaults.patience,
    batchSize: ctx.batchSize, seed: ctx.seed, maxIterations: ctx.maxIterations, signal: ctx.signal,
    onStep: (k: number) => progress(k / maxSteps),
  };
}

export const alignmentMethods: Record<AlignmentMethod, AlignmentMethodImpl> = {
  none: {
    needsData: () => false,
    align: async (ctx) => ({ aligned: [...ctx.models], perms: ctx.models.map(() => identities(ctx.spec)), iterations: 0 }),
  },
  weight: {
    needsData: () => false,
    align: async (ctx) => {
      // coordinate ascent has no known length: count sweeps against a typical 20
      const first = await toFirst(ctx, (t, s, progress) => weightMatching(ctx.spec, t, s, {
        seed: ctx.seed, maxIterations: ctx.maxIterations, signal: ctx.signal, onSweep: (k) => progress(k / Math.max(k + 1, 20)),
      }));
      return ctx.strategy === 'mergemany' && ctx.models.length > 2 ? mergeMany(ctx, first) : first;
    },
  },
  activation: {
    needsData: () => true,
    align: async (ctx) => {
      refuseMergeMany(ctx, 'activation');
      return toFirst(ctx, (t, s) => activationMatching(ctx.engine, ctx.graph, ctx.spec, t, s, ctx.calibration, ctx.signal));
    },
  },
  ste: {
    needsData: () => true,
    align: async (ctx) => {
      refuseMergeMany(ctx, 'ste');
      return toFirst(ctx, (t, s, progress) => steRebasin(ctx.graph, ctx.spec, t, s, ctx.calibration, learnedBase(ctx, STE_DEFAULTS, progress)));
    },
  },
  sinkhorn: {
    needsData: (o) => (o.loss ?? SINKHORN_DEFAULTS.loss) !== 'l2',
    align: async (ctx) => {
      refuseMergeMany(ctx, 'sinkhorn');
      const o = ctx.learned ?? {};
      return toFirst(ctx, (t, s, progress) => sinkhornRebasin(ctx.graph, ctx.spec, t, s, ctx.calibration, {
        ...learnedBase(ctx, SINKHORN_DEFAULTS, progress),
        temperature: o.temperature ?? SINKHORN_DEFAULTS.temperature, iterations: o.sinkhornIterations ?? SINKHORN_DEFAULTS.sinkhornIterations,
        loss: o.loss ?? SINKHORN_DEFAULTS.loss, init: 'weight',
      }));
    },
  },
};
