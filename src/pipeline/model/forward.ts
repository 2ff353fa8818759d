import * as tf from '@tensorflow/tfjs-core';
import type { OpContext } from '../layers/kind.ts';
import type { GraphNode, ModelGraph } from './graph.ts';
import type { StateDict } from './tensor.ts';

/**
 * Forward passes on TensorFlow.js. Activations run features last (NHWC for maps, tfjs's native
 * order) whatever the checkpoint layout; each parameter is put in engine order once, on the host,
 * when a model is loaded, by the axis order its kind declared.
 */
export interface EngineModel {
  graph: ModelGraph;
  tensors: Map<string, tf.Tensor>;
  dispose(): void;
}

/** Axis order back from engine to checkpoint: the inverse of a kind's `toEngine`. */
export function inverseOrder(order: readonly number[]): number[] {
  const inv = new Array<number>(order.length);
  order.forEach((from, to) => { inv[from] = to; });
  return inv;
}

function transposeHost(data: Float32Array, shape: number[], order: number[]): Float32Array {
  const out = new Float32Array(data.length);
  const rank = shape.length;
  const srcStrides = new Array<number>(rank);
  let s = 1;
  for (let d = rank - 1; d >= 0; d--) { srcStrides[d] = s; s *= shape[d]; }
  const outShape = order.map((d) => shape[d]);
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < out.length; i++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += idx[d] * srcStrides[order[d]];
    out[i] = data[src];
    for (let d = rank - 1; d >= 0; d--) { if (++idx[d] < outShape[d]) break; idx[d] = 0; }
  }
  return out;
}

/** A float tensor's data and shape in another axis order (none: as it is). */
function reorder(data: Float32Array, shape: number[], order: number[] | undefined): { data: Float32Array; shape: number[] } {
  if (!order) return { data, shape };
  return { data: transposeHost(data, shape, order), shape: order.map((d) => shape[d]) };
}

/** Every parameter the engine computes with (integer counters are only copied), with its node. */
export function* engineParams(graph: ModelGraph) {
  for (const node of graph.nodes) {
    for (const param of Object.values(node.params)) if (param.buffer !== 'counter') yield { node, param };
  }
}

/** Upload a checkpoint's tensors in the engine's layout. */
export function loadModel(graph: ModelGraph, state: StateDict): EngineModel {
  const tensors = new Map<string, tf.Tensor>();
  for (const { param } of engineParams(graph)) {
    const t = state.get(param.tensor);
    if (!t || t.kind !== 'float') throw new Error(`tensor ${param.tensor} missing or not float`);
    const { data, shape } = reorder(t.data, t.shape, param.toEngine);
    tensors.set(param.tensor, tf.tensor(data, shape, 'float32'));
  }
  return { graph, tensors, dispose: () => tensors.forEach((t) => t.dispose()) };
}

/** Read an engine model back into a checkpoint in its own layout (the inverse of loadModel). */
export function exportState(model: EngineModel, template: StateDict): StateDict {
  const out: StateDict = new Map(template);
  for (const { param } of engineParams(model.graph)) {
    const t = model.tensors.get(param.tensor)!;
    const { data, shape } = reorder(t.dataSync() as Float32Array, t.shape, param.toEngine && inverseOrder(param.toEngine));
    out.set(param.tensor, { kind: 'float', dtype: 'F32', shape, data: Float32Array.from(data) });
  }
  return out;
}

/** A batch of samples in the layout's order ([N,C,H,W] or [N,H,W,C] or [N,D]) as the engine's input tensor. */
export function inputTensor(graph: ModelGraph, x: Float32Array, n: number): tf.Tensor {
  const s = graph.input;
  if (s.kind === 'flat') return tf.tensor2d(x, [n, s.features]);
  if (s.kind === 'tokens') return tf.tensor3d(x, [n, s.tokens, s.features]);
  const { channels: c, height: h, width: w } = s;
  if (graph.layout === 'tfjs') return tf.tensor4d(x, [n, h, w, c]);
  if (c === 1) return tf.tensor4d(x, [n, h, w, 1]);
  return tf.tidy(() => tf.transpose(tf.tensor4d(x, [n, c, h, w]), [0, 2, 3, 1]));
}

/**
 * One node's call, as a wrapper sees it: its inputs, its parameters, and `run`, the kind's own op.
 * A wrapper returns the node's output in its place: it may measure, normalise or record `run()`'s
 * result, or compute another one (RESET's BatchNorm with batch statistics).
 */
export interface NodeCall extends OpContext<GraphNode['layer']> {
  node: GraphNode;
  run(): tf.Tensor;
}
export type NodeWrapper = (call: NodeCall) => tf.Tensor;

export interface ForwardOptions {
  /**
   * Per node id, a wrapper around its op (REPAIR and RESET register theirs; activation taps read
   * outputs this way). It runs inside the node's tidy: tensors it creates are freed unless returned
   * or kept (tf.keep), and it must read what it needs before returning.
   */
  wrap?: ReadonlyMap<string, NodeWrapper>;
  /** stop after this node and return its output */
  until?: string;
  /** per node id, what receives the inner activations its op shows (PermContext.inner), inside the node's tidy */
  inner?: ReadonlyMap<string, (key: string, y: tf.Tensor) => void>;
}

function opContext(model: EngineModel, node: GraphNode, inputs: tf.Tensor[], inner?: (key: string, y: tf.Tensor) => void): OpContext<GraphNode['layer']> {
  return {
    layer: node.layer,
    layout: model.graph.layout,
    inputs,
    param: (role) => model.tensors.get(node.params[role].tensor)!,
    has: (role) => Object.hasOwn(node.params, role),
    ...(inner ? { inner } : {}),
  };
}

/** Run the graph on one batch; returns the logits (or the output of `options.until`). Disposes everything else. */
export function forward(model: EngineModel, x: tf.Tensor, options?: ForwardOptions): tf.Tensor {
  const { graph } = model;
  const stop = options?.until ?? graph.output;
  const stopIndex = graph.byId.get(stop)!.index;
  // free each activation right after its last reader: a ResNet batch keeps only a few maps alive
  const lastUse = new Map<string, number>();
  for (const node of graph.nodes.slice(0, stopIndex + 1)) for (const src of node.inputs) lastUse.set(src, node.index);
  const live = new Map<string, tf.Tensor>([['input', x]]);
  let out: tf.Tensor | undefined;
  for (const node of graph.nodes) {
    if (node.index > stopIndex) break;
    const ctx = opContext(model, node, node.inputs.map((id) => live.get(id)!), options?.inner?.get(node.id));
    const wrapper = options?.wrap?.get(node.id);
    const y = tf.tidy(() => (wrapper ? wrapper({ ...ctx, node, run: () => node.kind.op(ctx) }) : node.kind.op(ctx)));
    live.set(node.id, y);
    for (const src of new Set(node.inputs)) {
      if (src !== 'input' && lastUse.get(src) === node.index) { live.get(src)!.dispose(); live.delete(src); }
    }
    if (node.id === stop) out = y;
  }
  for (const [id, t] of live) if (id !== 'input' && t !== out) t.dispose();
  return out!;
}

/** Mean cross-entropy and accuracy of a model's logits against labels, summed over a batch. */
export function lossAndCorrect(logits: tf.Tensor, labels: Int32Array): { lossSum: number; correct: number } {
  return tf.tidy(() => {
    const y = tf.tensor1d(labels, 'int32');
    const logp = tf.logSoftmax(logits as tf.Tensor2D);
    const picked = tf.sum(tf.mul(logp, tf.oneHot(y, logits.shape[1]!)));
    const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'float32'));
    return { lossSum: -picked.dataSync()[0], correct: correct.dataSync()[0] };
  });
}
