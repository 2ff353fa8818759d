import * as tf from '@tensorflow/tfjs-core';
// gradient functions: tfjs-core's Node entry registers none, the umbrella package does (as in backend.ts);
// imported here too so the learned methods work wherever the caller picked its backend
import '@tensorflow/tfjs';
import type { Dataset } from '../io/datasets.ts';
import type { NodeParam } from '../layers/kind.ts';
import { engineParams, forward, inputTensor, type EngineModel } from './forward.ts';
import type { GraphNode, ModelGraph } from './graph.ts';
import type { PermAxis, PermSpec } from './permspec.ts';
import type { StateDict } from './tensor.ts';
import { numel } from './tensor.ts';

/**
 * Tensor-side helpers for the learned alignments (ste, sinkhorn): weights held as tf tensors in
 * checkpoint layout, so that permuting, interpolating and the forward pass all stay on the
 * gradient tape. The host-side equivalents (permute.ts, interpolate.ts) are faster but opaque to it.
 */
export type TensorMap = Map<string, tf.Tensor>;

export interface ParamInfo { node: GraphNode; param: NodeParam }

/** Which node reads each float tensor, and as which parameter. */
export function paramInfo(graph: ModelGraph): Map<string, ParamInfo> {
  return new Map([...engineParams(graph)].map((info) => [info.param.tensor, info]));
}

/** Running statistics are measured, never learned: an optimiser must leave them alone. */
export const isLearnable = (param: NodeParam): boolean => param.buffer === undefined;

/** Upload a checkpoint's float tensors (checkpoint layout); the caller disposes them. */
export function uploadTensors(state: StateDict, names: Iterable<string>): TensorMap {
  const out: TensorMap = new Map();
  for (const name of names) {
    const t = state.get(name);
    if (!t || t.kind !== 'float') throw new Error(`tensor ${name} missing or not float`);
    out.set(name, tf.tensor(t.data, t.shape, 'float32'));
  }
  return out;
}

/**
 * An engine model over tensors in checkpoint layout: each parameter is put in engine order here, on
 * the tape (loadModel does it on the host), so gradients reach the checkpoint-layout tensors and the
 * kinds' ops run unchanged. Call inside a tidy or gradient scope; dispose() is a no-op because the
 * scope owns the transposes.
 */
export function differentiableModel(graph: ModelGraph, tensors: TensorMap): EngineModel {
  const engine: TensorMap = new Map();
  for (const { param } of engineParams(graph)) {
    const t = tensors.get(param.tensor);
    if (!t) throw new Error(`tensor ${param.tensor} missing`);
    engine.set(param.tensor, param.toEngine ? tf.transpose(t, param.toEngine) : t);
  }
  return { graph, tensors: engine, dispose: () => {} };
}

/** Mean cross-entropy of logits against labels, as a differentiable scalar. */
export function meanCrossEntropy(logits: tf.Tensor, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits as tf.Tensor2D), tf.oneHot(labels, logits.shape[1]!)), 1))) as tf.Scalar);
}

/**
 * Mix one permuted axis with a [C, C] matrix: out[.., i, ..] = sum_j p[i, j] in[.., j, ..], each
 * channel's `repeat` features moving together (on a shared axis, only the space's block from
 * `offset`). With a 0/1 matrix p[i, perm[i]] = 1 this is exactly gatherAxis with axisIndex
 * (permute.ts's convention); with a doubly stochastic one it is the soft permutation that Sinkhorn
 * re-basin differentiates through.
 */
export function mixAxis(t: tf.Tensor, axis: PermAxis, p: tf.Tensor2D): tf.Tensor {
  return tf.tidy(() => {
    const width = p.shape[0] * axis.repeat;
    const len = t.shape[axis.axis];
    if (axis.offset === undefined || (axis.offset === 0 && width === len)) return mixBlock(t, axis, p);
    if (axis.offset + width > len) throw new Error(`tensor ${axis.tensor} axis ${axis.axis} has ${len} entries; a block of ${width} at ${axis.offset} does not fit`);
    const pieces = tf.split(t, [axis.offset, width, len - axis.offset - width].filter((n) => n > 0), axis.axis);
    const at = axis.offset > 0 ? 1 : 0;
    pieces[at] = mixBlock(pieces[at], axis, p);
    return tf.concat(pieces, axis.axis);
  });
}

function mixBlock(t: tf.Tensor, axis: PermAxis, p: tf.Tensor2D): tf.Tensor {
  return tf.tidy(() => {
    const shape = t.shape;
    const c = p.shape[0];
    const outer = numel(shape.slice(0, axis.axis));
    const inner = numel(shape.slice(axis.axis + 1));
    if (shape[axis.axis] !== c * axis.repeat) throw new Error(`tensor ${axis.tensor} axis ${axis.axis} has ${shape[axis.axis]} entries, expected ${c} x ${axis.repeat}`);
    // the channel index sits before its repeat block (PyTorch's flatten) or after it (tfjs's)
    const dims = axis.channelMajor ? [outer, c, axis.repeat, inner] : [outer, axis.repeat, c, inner];
    const toFront = axis.channelMajor ? [1, 0, 2, 3] : [2, 0, 1, 3];
    const back = axis.channelMajor ? [1, 0, 2, 3] : [1, 2, 0, 3];
    const front = tf.transpose(tf.reshape(t, dims), toFront);
    const mixed = tf.reshape(tf.matMul(p, tf.reshape(front, [c, -1])), front.shape);
    return tf.reshape(tf.transpose(mixed, back), shape);
  });
}

/** Apply one mixing matrix per space to every axis the spec lists; tensors outside every space pass through. */
export function mixState(tensors: TensorMap, spec: PermSpec, ps: readonly tf.Tensor2D[]): TensorMap {
  const out: TensorMap = new Map(tensors);
  spec.spaces.forEach((space, s) => {
    for (const axis of space.axes) {
      const t = out.get(axis.tensor);
      if (t) out.set(axis.tensor, mixAxis(t, axis, ps[s]));
    }
  });
  return out;
}

/** (1 - alpha) a + alpha b, tensor by tensor over b's names. */
export function lerpTensors(a: TensorMap, b: TensorMap, alpha: number): TensorMap {
  const out: TensorMap = new Map();
  for (const [name, tb] of b) out.set(name, tf.add(tf.mul(a.get(name)!, 1 - alpha), tf.mul(tb, alpha)));
  return out;
}

/** Cross-entropy of the interpolation (1 - alpha) a + alpha b on one batch; differentiable in both. */
export function interpolationLoss(graph: ModelGraph, a: TensorMap, b: TensorMap, alpha: number, x: tf.Tensor, y: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => meanCrossEntropy(forward(differentiableModel(graph, lerpTensors(a, b, alpha)), x), y));
}

/**
 * x - logsumexp(x) along one axis (kept), with its gradient written out: dy - softmax(x) * sum(dy).
 * Unrolled through tf.logSumExp, the gradient also runs through its max-shift (an equality mask) and
 * the broadcast subtraction: a 20-iteration Sinkhorn on a 128x128 matrix took 294 ms per gradient on
 * wasm that way, about 35 ms this way.
 */
function normalizeAlong(axis: number): (x: tf.Tensor) => tf.Tensor {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const value = tf.tidy(() => {
      const z = tf.sub(x, tf.max(x, axis, true));
      return tf.sub(z, tf.log(tf.sum(tf.exp(z), axis, true)));
    });
    save([value]);
    // exp(value) is the softmax along the axis
    return { value, gradFunc: (dy: tf.Tensor, [y]: tf.Tensor[]) => tf.sub(dy, tf.mul(tf.exp(y), tf.sum(dy, axis, true))) };
  }) as (x: tf.Tensor) => tf.Tensor;
}
const normalizeRows = normalizeAlong(1);
const normalizeCols = normalizeAlong(0);

/**
 * Log-domain Sinkhorn: alternately normalise rows and columns of exp(logits) by log-sum-exp, which
 * never overflows or underflows however sharp the logits get (the exp-domain form divides by column
 * sums that reach 0 at low temperatures). Returns log P; the last step normalises columns.
 */
export function logSinkhorn(logits: tf.Tensor2D, iterations: number): tf.Tensor2D {
  return tf.tidy(() => {
    let l: tf.Tensor = logits;
    for (let k = 0; k < iterations; k++) l = normalizeCols(normalizeRows(l));
    return l as tf.Tensor2D;
  });
}

/** Endless walk over a dataset's full batches in order, one per optimiser step (full, so every step's loss averages as many samples). */
export function batchCycle(graph: ModelGraph, data: Dataset, batchSize: number): () => { x: tf.Tensor; y: tf.Tensor1D } {
  const d = numel(data.sampleShape);
  const size = Math.min(batchSize, data.n);
  const count = Math.max(1, Math.floor(data.n / size));
  let k = 0;
  return () => {
    const start = (k++ % count) * size;
    return {
      x: inputTensor(graph, data.x.subarray(start * d, (start + size) * d), size),
      y: tf.tensor1d(data.y.subarray(start, start + size), 'int32'),
    };
  };
}
