import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../io/datasets.ts';
import { channelMoments, type ChannelStats } from '../layers/moments.ts';
import { featuresOf } from '../layers/shape.ts';
import { forward, loadModel, type NodeWrapper } from '../model/forward.ts';
import type { GraphNode, ModelGraph } from '../model/graph.ts';
import { evaluate, forEachBatch, runPass, withModel } from '../model/passes.ts';
import type { StateDict } from '../model/tensor.ts';
import { batchStatistics, taps } from '../model/wrappers.ts';
import { ChannelMoments, CrossCorrelation } from '../stats.ts';
import { currentBackend } from './backend.ts';
import { REPAIR_EPS, tapId, type ActivationTap, type ForwardEngine } from './engine.ts';
import { readTensors } from './linalg.ts';

/**
 * The passes on TensorFlow.js, in batches of `batchSize` (the request's compute.batchSize): the
 * fallback engine, and the one wherever ONNX Runtime cannot load. Corrections and taps are
 * wrappers around the nodes' ops (model/forward.ts).
 */
export function tfjsEngine(batchSize: number): ForwardEngine {
  const momentsOf = (graph: ModelGraph, ids: Iterable<string>) => new Map([...ids].map((id) => [id, new ChannelMoments(featuresOf(graph.byId.get(id)!.shape))]));
  const record = (acc: Map<string, ChannelMoments>) => (node: GraphNode, s: ChannelStats) => acc.get(node.id)!.addBatch(s.mean.dataSync(), s.variance.dataSync(), s.count);
  return {
    info: { name: 'tfjs', device: currentBackend() },
    async logits(graph, state, data, signal) {
      const parts: Float32Array[] = [];
      withModel(graph, state, (model) => forEachBatch(graph, data, batchSize, (x) => {
        const y = forward(model, x);
        parts.push(y.dataSync() as Float32Array);
        y.dispose();
      }, signal));
      const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
      parts.reduce((at, p) => { out.set(p, at); return at + p.length; }, 0);
      return out;
    },
    evaluate: async (graph, state, data, signal) => evaluate(graph, state, data, batchSize, signal),
    async moments(graph, state, nodes, data, signal) {
      const acc = momentsOf(graph, nodes);
      const wrap = taps(nodes, (node, y) => tf.tidy(() => record(acc)(node, channelMoments(y))));
      withModel(graph, state, (model) => runPass(model, data, batchSize, { wrap }, signal));
      return acc;
    },
    async repairMoments(graph, state, targets, data, signal) {
      const acc = momentsOf(graph, targets.keys());
      const tensors = new Map([...targets].map(([id, t]) => [id, { mean: tf.tensor1d(Float32Array.from(t.mean)), std: tf.tensor1d(Float32Array.from(t.std)) }]));
      const wrap = new Map([...tensors].map(([id, target]) => [id, repairWrapper(target, record(acc))]));
      try {
        withModel(graph, state, (model) => runPass(model, data, batchSize, { wrap }, signal));
      } finally {
        tensors.forEach((t) => { t.mean.dispose(); t.std.dispose(); });
      }
      return acc;
    },
    async batchStatsMoments(graph, state, data, signal) {
      const acc = momentsOf(graph, graph.nodes.filter((n) => n.kind.runningStats).map((n) => n.id));
      const wrap = batchStatistics(graph, record(acc));
      withModel(graph, state, (model) => runPass(model, data, batchSize, { wrap }, signal));
      return acc;
    },
    async correlations(graph, target, source, tapList, data, signal) {
      return correlate(graph, target, source, tapList, data, batchSize, signal);
    },
  };
}

/** REPAIR's wrapper at a site: the output normalised with its batch statistics (reported), then given the target mean and std. */
function repairWrapper(target: { mean: tf.Tensor1D; std: tf.Tensor1D }, onStats: (node: GraphNode, stats: ChannelStats) => void): NodeWrapper {
  return ({ node, run }) => {
    const raw = run();
    const stats = channelMoments(raw);
    onStats(node, stats);
    const normed = tf.div(tf.sub(raw, stats.mean), tf.sqrt(tf.add(stats.variance, REPAIR_EPS)));
    return tf.add(tf.mul(normed, target.std), target.mean);
  };
}

/**
 * Both models over each batch; per tap, features last with every position a row, the sums
 * Pearson's correlation needs. Node taps wrap the node; inner taps listen to the op (OpContext.inner).
 */
function correlate(graph: ModelGraph, target: StateDict, source: StateDict, tapList: readonly ActivationTap[], data: Dataset, batchSize: number, signal?: AbortSignal): Map<string, CrossCorrelation> {
  const acc = new Map<string, CrossCorrelation>();
  const nodeTaps = new Set<string>();
  const innerTaps = new Map<string, Set<string>>();
  for (const t of tapList) {
    if (t.key === undefined) nodeTaps.add(t.node);
    else innerTaps.set(t.node, (innerTaps.get(t.node) ?? new Set()).add(t.key));
  }
  const a = loadModel(graph, target);
  const b = loadModel(graph, source);
  try {
    forEachBatch(graph, data, batchSize, (x) => {
      const kept = new Map<string, tf.Tensor2D>();
      const keep = (id: string, y: tf.Tensor) => kept.set(id, tf.keep(tf.reshape(y, [-1, y.shape[y.rank - 1]!])) as tf.Tensor2D);
      const wrap = taps(nodeTaps, (node, y) => keep(node.id, y));
      const inner = new Map([...innerTaps].map(([node, keys]) => [node, (key: string, y: tf.Tensor) => { if (keys.has(key)) keep(tapId({ node, key }), y); }]));
      forward(a, x, { wrap, inner }).dispose();
      const fromA = new Map(kept);
      kept.clear();
      forward(b, x, { wrap, inner }).dispose();
      for (const t of tapList) {
        const id = tapId(t);
        const ya = fromA.get(id)!;
        const yb = kept.get(id)!;
        const sums = readTensors(() => [tf.sum(ya, 0), tf.sum(yb, 0), tf.sum(tf.square(ya), 0), tf.sum(tf.square(yb), 0), tf.matMul(ya, yb, true, false)]);
        if (!acc.has(id)) acc.set(id, new CrossCorrelation(ya.shape[1]));
        acc.get(id)!.addBatch(ya.shape[0], sums[0], sums[1], sums[2], sums[3], sums[4]);
        ya.dispose();
        yb.dispose();
      }
    }, signal);
  } finally {
    a.dispose();
    b.dispose();
  }
  return acc;
}
