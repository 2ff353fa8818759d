import type { Perm } from './permute.ts';

/** What the learned alignments (ste, sinkhorn) share: step budget, optimiser, early stopping, reporting. */
export interface LearnedOptions {
  maxSteps: number;
  learningRate: number;
  /** stop after this many steps without a better monitored loss */
  patience: number;
  /** samples per optimiser step, for the task losses */
  batchSize: number;
  seed: number;
  signal?: AbortSignal;
  /** after each step, with the monitored loss */
  onStep?: (step: number, loss: number) => void;
}

export interface LearnedResult {
  perms: Perm[];
  /** optimiser steps taken */
  iterations: number;
  /** the monitored loss after each step */
  lossTrace: number[];
}

/**
 * Early stopping on a monitored loss: counts steps since the last improvement. An improvement must
 * beat the best by a relative 1e-6 so float noise on a plateau does not reset the count forever.
 */
export class BestSoFar {
  best = Infinity;
  bestStep = -1;
  private since = 0;
  constructor(private readonly patience: number) {}
  /** record a step's loss; true when it is the new best */
  offer(loss: number, step: number): boolean {
    const bar = Number.isFinite(this.best) ? this.best - 1e-6 * Math.max(1, Math.abs(this.best)) : Infinity;
    if (Number.isFinite(loss) && loss < bar) {
      this.best = loss;
      this.bestStep = step;
      this.since = 0;
      return true;
    }
    this.since++;
    return false;
  }
  get exhausted(): boolean { return this.since >= this.patience; }
}
