import type { Dataset } from '../io/datasets.ts';
import type { ModelGraph } from '../model/graph.ts';
import type { StateDict } from '../model/tensor.ts';
import type { ChannelMoments, CrossCorrelation } from '../stats.ts';

/**
 * The forward passes a merge needs that take no gradient: evaluation, and the statistics of
 * REPAIR, RESET and activation matching. Two engines implement them: ONNX Runtime
 * (runtime/ortEngine.ts, the default) and TensorFlow.js (runtime/tfjsEngine.ts, the fallback; the
 * learned alignments always run on tfjs, which has gradients). Each pass takes host checkpoints
 * and returns host statistics, so the math around them (folding, solving) is the engines' common code.
 */
export interface EngineInfo {
  /** 'onnxruntime', or 'tfjs' */
  name: 'onnxruntime' | 'tfjs';
  /** the execution provider (ONNX Runtime: 'cpu') or the tfjs backend ('wasm', ...) */
  device: string;
  /** intra-op threads (ONNX Runtime) */
  threads?: number;
}

export interface Evaluation { loss: number; accuracy: number }

/**
 * An activation activation matching reads: a node's output, or an inner activation its op shows
 * (`key`: attention's q, k and v; PermContext.inner declares them).
 */
export interface ActivationTap { node: string; key?: string }
/** A tap's key in the engines' results: the node id, or `node:key`. */
export const tapId = (t: ActivationTap): string => (t.key === undefined ? t.node : `${t.node}:${t.key}`);

/** What REPAIR normalises a site to: per channel, the target mean and std. */
export interface SiteTargets { mean: Float64Array; std: Float64Array }

/** REPAIR's epsilon: the site is normalised by sqrt(var + eps), as BatchNorm does. */
export const REPAIR_EPS = 1e-5;

export interface ForwardEngine {
  readonly info: EngineInfo;
  /** the net's outputs (logits) for every sample, row-major [n, classes] */
  logits(graph: ModelGraph, state: StateDict, data: Dataset, signal?: AbortSignal): Promise<Float32Array>;
  /** mean cross-entropy and accuracy on a labelled dataset */
  evaluate(graph: ModelGraph, state: StateDict, data: Dataset, signal?: AbortSignal): Promise<Evaluation>;
  /** exact per-channel moments over the dataset of each listed node's output (a parent's REPAIR statistics) */
  moments(graph: ModelGraph, state: StateDict, nodes: readonly string[], data: Dataset, signal?: AbortSignal): Promise<Map<string, ChannelMoments>>;
  /**
   * REPAIR's pass: each target site's output normalised with its batch's statistics and given the
   * target mean and std, later sites seeing the corrected values; returns the moments of each
   * site's raw output (before its normalisation). With the whole dataset in one batch, each site
   * is normalised with exactly the correction its fold applies (see correct/repair.ts).
   */
  repairMoments(graph: ModelGraph, state: StateDict, targets: ReadonlyMap<string, SiteTargets>, data: Dataset, signal?: AbortSignal): Promise<Map<string, ChannelMoments>>;
  /** RESET's pass: every kind with running statistics normalises with its batch's; returns the moments of their inputs */
  batchStatsMoments(graph: ModelGraph, state: StateDict, data: Dataset, signal?: AbortSignal): Promise<Map<string, ChannelMoments>>;
  /** activation matching: per tap (by tapId), the channel correlation sums between two models on the same data, every position a row */
  correlations(graph: ModelGraph, a: StateDict, b: StateDict, taps: readonly ActivationTap[], data: Dataset, signal?: AbortSignal): Promise<Map<string, CrossCorrelation>>;
}

/** Mean cross-entropy and accuracy of `n` rows of logits, summed in Float64; ties go to the first maximum (as tf.argMax). */
export function lossAndCorrectOf(logits: Float32Array, classes: number, labels: Int32Array): { lossSum: number; correct: number } {
  let lossSum = 0;
  let correct = 0;
  for (let r = 0; r < labels.length; r++) {
    const row = logits.subarray(r * classes, (r + 1) * classes);
    let best = 0;
    for (let c = 1; c < classes; c++) if (row[c] > row[best]) best = c;
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(row[c] - row[best]);
    lossSum += Math.log(sum) + row[best] - row[labels[r]];
    if (best === labels[r]) correct++;
  }
  return { lossSum, correct };
}
