import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../io/datasets.ts';
import type { GraphNode, ModelGraph } from '../model/graph.ts';
import { weightAxes } from '../model/graph.ts';
import { runPass, withModel } from '../model/passes.ts';
import type { PermSpec } from '../model/permspec.ts';
import { ChannelMoments } from '../stats.ts';
import type { FloatTensor, StateDict } from '../model/tensor.ts';

/** A site that could not be corrected; the site is left as interpolated and the report says why. */
export interface SiteIssue { site: string; code: 'non_finite_target' | 'non_finite_stats' | 'huge_gain' | 'non_finite_result'; message: string }
export interface SiteTargets { mean: Float64Array; std: Float64Array }

/** Largest per-channel gain REPAIR may apply before the site is refused as numerically unsafe. */
const MAX_GAIN = 1e4;
const EPS = 1e-5;

/**
 * REPAIR's correction sites: every hidden linear/conv output (pre-activation), or for BatchNorm
 * nets the BatchNorm outputs; the logits layer only on request.
 */
export function repairSites(graph: ModelGraph, spec: PermSpec, options: { logits: boolean }): GraphNode[] {
  const kind = graph.hasBatchNorm ? ['batchnorm'] : ['linear', 'conv2d'];
  return graph.nodes.filter((node) => {
    if (!kind.includes(node.layer.type)) return false;
    if (node.id === graph.output) return options.logits;
    return (spec.spaceOfNode.get(node.id) ?? -1) >= 0;
  });
}

/** Exact per-channel mean and std at each site over a dataset (a parent's statistics). */
export function siteStatistics(graph: ModelGraph, state: StateDict, sites: readonly GraphNode[], data: Dataset, batchSize: number, signal?: AbortSignal): Map<string, SiteTargets> {
  const acc = new Map(sites.map((s) => [s.id, new ChannelMoments(s.shape[0])]));
  withModel(graph, state, (model) => runPass(model, data, batchSize, {
    tapNodes: new Set(acc.keys()),
    tap: (node, y) => tf.tidy(() => {
      const axes = y.shape.slice(0, -1).map((_, i) => i);
      const { mean, variance } = tf.moments(y, axes);
      acc.get(node.id)!.addBatch(mean.dataSync(), variance.dataSync(), y.size / y.shape[y.rank - 1]!);
    }),
  }, signal));
  return new Map([...acc].map(([id, m]) => [id, { mean: m.mean.slice(), std: m.std() }]));
}

/** Interpolated targets: mean and std (not variance) of the two parents, at alpha. */
export function interpolateTargets(a: Map<string, SiteTargets>, b: Map<string, SiteTargets>, alpha: number): Map<string, SiteTargets> {
  const out = new Map<string, SiteTargets>();
  for (const [id, sa] of a) {
    const sb = b.get(id)!;
    out.set(id, {
      mean: sa.mean.map((v, c) => (1 - alpha) * v + alpha * sb.mean[c]),
      std: sa.std.map((v, c) => (1 - alpha) * v + alpha * sb.std[c]),
    });
  }
  return out;
}

function outputParams(graph: ModelGraph, node: GraphNode): { scaled: { name: string; axis: number }; shift: string } {
  if (node.layer.type === 'batchnorm' || node.layer.type === 'layernorm') return { scaled: { name: node.params.scale!, axis: 0 }, shift: node.params.shift! };
  if (!node.params.bias) throw new Error(`REPAIR site ${node.id} has no bias to absorb the correction`);
  return { scaled: { name: node.params.weight!, axis: weightAxes(graph.layout, node.layer.type as 'linear' | 'conv2d').out }, shift: node.params.bias };
}

function scaleAxis(t: FloatTensor, axis: number, gain: Float64Array): Float32Array {
  const out = t.data.slice();
  let inner = 1;
  for (let d = axis + 1; d < t.shape.length; d++) inner *= t.shape[d];
  const len = t.shape[axis];
  for (let i = 0; i < out.length; i++) out[i] *= gain[Math.floor(i / inner) % len];
  return out;
}

/**
 * REPAIR (Jordan et al. 2022) in one pass: each site normalises the merged net's output with its
 * batch statistics and applies the target mean/std, so every site's statistics are measured with
 * the earlier sites already corrected; the measured moments are then fused into the weights:
 * g = sd_t / sqrt(var + eps), W' = g W, b' = mu_t + g (b - mu).
 */
export function repairState(graph: ModelGraph, merged: StateDict, targets: Map<string, SiteTargets>, data: Dataset, batchSize: number, signal?: AbortSignal): { state: StateDict; issues: SiteIssue[] } {
  const issues: SiteIssue[] = [];
  const usable = new Map<string, SiteTargets>();
  for (const [id, t] of targets) {
    if (t.mean.every(Number.isFinite) && t.std.every((v) => Number.isFinite(v) && v >= 0)) usable.set(id, t);
    else issues.push({ site: id, code: 'non_finite_target', message: `site ${id}: the parents' statistics are not finite` });
  }
  const measured = new Map([...usable.keys()].map((id) => [id, new ChannelMoments(graph.byId.get(id)!.shape[0])]));
  const tfTargets = new Map([...usable].map(([id, t]) => [id, { mean: tf.tensor1d(Float32Array.from(t.mean)), std: tf.tensor1d(Float32Array.from(t.std)) }]));
  try {
    withModel(graph, merged, (model) => runPass(model, data, batchSize, {
      repair: {
        targets: tfTargets,
        stats: (node, s) => measured.get(node.id)!.addBatch(s.mean.dataSync(), s.variance.dataSync(), s.count),
      },
    }, signal));
  } finally {
    tfTargets.forEach((t) => { t.mean.dispose(); t.std.dispose(); });
  }
  const state: StateDict = new Map(merged);
  for (const [id, target] of usable) {
    const node = graph.byId.get(id)!;
    const m = measured.get(id)!;
    const variance = m.variance();
    const gain = target.std.map((sd, c) => sd / Math.sqrt(variance[c] + EPS));
    if (!m.mean.every(Number.isFinite) || !variance.every(Number.isFinite)) {
      issues.push({ site: id, code: 'non_finite_stats', message: `site ${id}: the merged net's activations are not finite` });
      continue;
    }
    const worst = gain.reduce((a, g) => Math.max(a, g), 0);
    if (!(worst <= MAX_GAIN)) {
      issues.push({ site: id, code: 'huge_gain', message: `site ${id}: a channel would need gain ${worst.toExponential(2)} (> ${MAX_GAIN}); its merged variance has collapsed` });
      continue;
    }
    const { scaled, shift } = outputParams(graph, node);
    const w = state.get(scaled.name) as FloatTensor;
    const b = state.get(shift) as FloatTensor;
    const w2 = scaleAxis(w, scaled.axis, gain);
    const b2 = b.data.map((v, c) => target.mean[c] + gain[c] * (v - m.mean[c]));
    if (!w2.every(Number.isFinite) || !b2.every(Number.isFinite)) {
      issues.push({ site: id, code: 'non_finite_result', message: `site ${id}: the corrected weights are not finite` });
      continue;
    }
    state.set(scaled.name, { ...w, data: w2 });
    state.set(shift, { ...b, data: b2 });
  }
  return { state, issues };
}

/**
 * RESET for BatchNorm nets: re-estimate every BN's running mean and variance of the merged net on
 * calibration data (exact average over the data, not momentum), each BN normalising with batch
 * statistics during the pass as PyTorch's train mode does.
 */
export function resetBatchNorm(graph: ModelGraph, merged: StateDict, data: Dataset, batchSize: number, signal?: AbortSignal): { state: StateDict; issues: SiteIssue[] } {
  const bns = graph.nodes.filter((n) => n.layer.type === 'batchnorm');
  const acc = new Map(bns.map((n) => [n.id, new ChannelMoments(n.shape[0])]));
  withModel(graph, merged, (model) => runPass(model, data, batchSize, {
    batchNormStats: (node, s) => acc.get(node.id)!.addBatch(s.mean.dataSync(), s.variance.dataSync(), s.count),
  }, signal));
  const state: StateDict = new Map(merged);
  const issues: SiteIssue[] = [];
  for (const node of bns) {
    const m = acc.get(node.id)!;
    // PyTorch stores the unbiased variance in running_var
    const variance = m.variance().map((v) => (v * m.n) / Math.max(m.n - 1, 1));
    if (!m.mean.every(Number.isFinite) || !variance.every(Number.isFinite)) {
      issues.push({ site: node.id, code: 'non_finite_stats', message: `BatchNorm ${node.id}: re-estimated statistics are not finite` });
      continue;
    }
    const mean = state.get(node.params.mean!) as FloatTensor;
    const vr = state.get(node.params.var!) as FloatTensor;
    state.set(node.params.mean!, { ...mean, data: Float32Array.from(m.mean) });
    state.set(node.params.var!, { ...vr, data: Float32Array.from(variance) });
  }
  return { state, issues };
}
