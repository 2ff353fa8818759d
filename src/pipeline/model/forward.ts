import * as tf from '@tensorflow/tfjs-core';
import type { GraphNode, ModelGraph } from './graph.ts';
import type { StateDict } from './tensor.ts';

/**
 * Forward passes on TensorFlow.js. Activations run NHWC (tfjs's native order) whatever the
 * checkpoint layout; PyTorch weights are transposed once on the host when a model is loaded, and a
 * PyTorch `flatten` goes through NCHW so the next linear layer sees PyTorch's feature order.
 */
export interface EngineModel {
  graph: ModelGraph;
  tensors: Map<string, tf.Tensor>;
  dispose(): void;
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

/** Upload a checkpoint's tensors in the engine's layout (linear [in,out], conv [kh,kw,in,out]). */
export function loadModel(graph: ModelGraph, state: StateDict): EngineModel {
  const tensors = new Map<string, tf.Tensor>();
  for (const node of graph.nodes) {
    for (const [role, name] of Object.entries(node.params)) {
      if (role === 'count') continue;
      const t = state.get(name);
      if (!t || t.kind !== 'float') throw new Error(`tensor ${name} missing or not float`);
      let data = t.data;
      let shape = t.shape;
      if (role === 'weight' && graph.layout === 'pytorch') {
        const order = node.layer.type === 'linear' ? [1, 0] : [2, 3, 1, 0];
        data = transposeHost(data, shape, order);
        shape = order.map((d) => t.shape[d]);
      }
      tensors.set(name, tf.tensor(data, shape, 'float32'));
    }
  }
  return { graph, tensors, dispose: () => tensors.forEach((t) => t.dispose()) };
}

/** A batch of samples in the layout's order ([N,C,H,W] or [N,H,W,C] or [N,D]) as the engine's input tensor. */
export function inputTensor(graph: ModelGraph, x: Float32Array, n: number): tf.Tensor {
  const [c, h, w] = graph.input;
  if (graph.input.length === 1) return tf.tensor2d(x, [n, c]);
  if (graph.input.length === 2) throw new Error('2-D inputs are not supported; use [C,H,W] or [D]');
  if (graph.layout === 'tfjs') return tf.tensor4d(x, [n, h, w, c]);
  if (c === 1) return tf.tensor4d(x, [n, h, w, 1]);
  return tf.tidy(() => tf.transpose(tf.tensor4d(x, [n, c, h, w]), [0, 2, 3, 1]));
}

export interface ChannelStats { mean: tf.Tensor1D; variance: tf.Tensor1D; count: number }

export interface ForwardHooks {
  /** nodes whose outputs `tap` sees */
  tapNodes?: ReadonlySet<string>;
  /** called with a node's output; runs synchronously, must read what it needs before returning */
  tap?: (node: GraphNode, y: tf.Tensor) => void;
  /** RESET: every BatchNorm normalises with its batch statistics, reported here */
  batchNormStats?: (node: GraphNode, stats: ChannelStats) => void;
  /** REPAIR in one pass: these nodes' outputs are normalised with batch statistics, then given the target mean and std */
  repair?: {
    targets: ReadonlyMap<string, { mean: tf.Tensor1D; std: tf.Tensor1D }>;
    stats: (node: GraphNode, stats: ChannelStats) => void;
  };
  /** stop after this node and return its output */
  until?: string;
}

const EPS_STATS = 1e-5;

/** Per-channel moments over every axis but the last (the channel axis in NHWC and [N,C]). */
export function channelMoments(y: tf.Tensor): ChannelStats {
  const axes = y.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(y, axes);
  const count = y.size / y.shape[y.shape.length - 1];
  return { mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D, count };
}

function poolPadded(x: tf.Tensor4D, pad: number, value: number): tf.Tensor4D {
  if (pad === 0) return x;
  return tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], value);
}

function runNode(model: EngineModel, node: GraphNode, ins: tf.Tensor[], hooks: ForwardHooks | undefined): tf.Tensor {
  const p = (role: keyof GraphNode['params']) => model.tensors.get(node.params[role]!)!;
  const x = ins[0];
  const layer = node.layer;
  switch (layer.type) {
    case 'linear': {
      const y = tf.matMul(x as tf.Tensor2D, p('weight') as tf.Tensor2D);
      return node.params.bias ? tf.add(y, p('bias')) : y;
    }
    case 'conv2d': {
      const pad = layer.padding === 'same' ? 'same' : layer.padding;
      const y = tf.conv2d(x as tf.Tensor4D, p('weight') as tf.Tensor4D, layer.stride, pad);
      return node.params.bias ? tf.add(y, p('bias')) : y;
    }
    case 'batchnorm': {
      if (hooks?.batchNormStats) {
        const stats = channelMoments(x);
        hooks.batchNormStats(node, stats);
        // primitive ops rather than tf.batchNorm: its gradient uses Tile, which is slow on wasm
        return tf.add(tf.mul(tf.mul(tf.sub(x, stats.mean), tf.rsqrt(tf.add(stats.variance, layer.eps))), p('scale')), p('shift'));
      }
      return tf.batchNorm(x, p('mean'), p('var'), p('shift'), p('scale'), layer.eps);
    }
    case 'layernorm': {
      const axes = x.shape.slice(1).map((_, i) => i + 1);
      const { mean, variance } = tf.moments(x, axes, true);
      const normed = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, layer.eps)));
      return tf.add(tf.mul(normed, p('scale')), p('shift'));
    }
    case 'relu':
      return tf.relu(x);
    case 'gelu':
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
    case 'identity':
      return tf.clone(x);
    case 'flatten': {
      const n = x.shape[0];
      if (x.rank === 4 && model.graph.layout === 'pytorch') return tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n, -1]);
      return tf.reshape(x, [n, -1]);
    }
    case 'globalavgpool':
      return tf.mean(x, [1, 2]);
    case 'maxpool': {
      const s = layer.stride ?? layer.kernel;
      return tf.maxPool(poolPadded(x as tf.Tensor4D, layer.padding, -3.4e38), layer.kernel, s, 'valid');
    }
    case 'avgpool': {
      // PyTorch's default count_include_pad=True: padding zeros count in the average
      const s = layer.stride ?? layer.kernel;
      return tf.avgPool(poolPadded(x as tf.Tensor4D, layer.padding, 0), layer.kernel, s, 'valid');
    }
    case 'add':
      return tf.addN(ins);
  }
}

/** Run the graph on one batch; returns the logits (or the output of `hooks.until`). Disposes everything else. */
export function forward(model: EngineModel, x: tf.Tensor, hooks?: ForwardHooks): tf.Tensor {
  const { graph } = model;
  const stop = hooks?.until ?? graph.output;
  const stopIndex = graph.byId.get(stop)!.index;
  // free each activation right after its last reader: a ResNet batch keeps only a few maps alive
  const lastUse = new Map<string, number>();
  for (const node of graph.nodes.slice(0, stopIndex + 1)) for (const src of node.inputs) lastUse.set(src, node.index);
  const live = new Map<string, tf.Tensor>([['input', x]]);
  let out: tf.Tensor | undefined;
  for (const node of graph.nodes) {
    if (node.index > stopIndex) break;
    const ins = node.inputs.map((id) => live.get(id)!);
    let y = tf.tidy(() => runNode(model, node, ins, hooks));
    const target = hooks?.repair?.targets.get(node.id);
    if (target) {
      const raw = y;
      y = tf.tidy(() => {
        const stats = channelMoments(raw);
        hooks!.repair!.stats(node, stats);
        const normed = tf.div(tf.sub(raw, stats.mean), tf.sqrt(tf.add(stats.variance, EPS_STATS)));
        return tf.add(tf.mul(normed, target.std), target.mean);
      });
      raw.dispose();
    }
    if (hooks?.tap && hooks.tapNodes?.has(node.id)) hooks.tap(node, y);
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

/** Read an engine model back into a checkpoint in its own layout (the inverse of loadModel). */
export function exportState(model: EngineModel, template: StateDict): StateDict {
  const out: StateDict = new Map(template);
  for (const node of model.graph.nodes) {
    for (const [role, name] of Object.entries(node.params)) {
      if (role === 'count') continue;
      const t = model.tensors.get(name)!;
      let data = t.dataSync() as Float32Array;
      let shape = t.shape;
      if (role === 'weight' && model.graph.layout === 'pytorch') {
        // engine layout back to PyTorch: linear [in,out] -> [out,in], conv [kh,kw,in,out] -> [out,in,kh,kw]
        const order = node.layer.type === 'linear' ? [1, 0] : [3, 2, 0, 1];
        data = transposeHost(data, shape, order);
        shape = order.map((d) => t.shape[d]);
      }
      out.set(name, { kind: 'float', dtype: 'F32', shape, data: Float32Array.from(data) });
    }
  }
  return out;
}
