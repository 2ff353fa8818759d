import type { Dataset } from '../io/datasets.ts';
import type { GraphNode, ModelGraph } from '../model/graph.ts';
import type { PermSpec } from '../model/permspec.ts';
import type { FloatTensor, StateDict } from '../model/tensor.ts';
import { REPAIR_EPS, type ForwardEngine, type SiteTargets } from '../runtime/engine.ts';

/** A site that could not be corrected; the site is left as interpolated and the report says why. */
export interface SiteIssue { site: string; code: 'non_finite_target' | 'non_finite_stats' | 'huge_gain' | 'non_finite_result' | 'cannot_fold'; message: string }
export type { SiteTargets };

/** Largest per-channel gain REPAIR may apply before the site is refused as numerically unsafe. */
const MAX_GAIN = 1e4;

/**
 * REPAIR's correction sites: the hidden outputs of the kinds that are sites in this kind of net
 * (their `repair.nets`): linear/conv pre-activations in plain and LayerNorm nets, BatchNorm outputs
 * in BatchNorm nets; the logits layer only on request.
 */
export function repairSites(graph: ModelGraph, spec: PermSpec, options: { logits: boolean }): GraphNode[] {
  const nets = graph.hasBatchNorm ? 'batchnorm' : 'plain';
  return graph.nodes.filter((node) => {
    if (node.kind.repair?.nets !== nets) return false;
    if (node.id === graph.output) return options.logits;
    return (spec.spaceOfNode.get(node.id) ?? -1) >= 0;
  });
}

/** Exact per-channel mean and std at each site over a dataset (a parent's statistics). */
export async function siteStatistics(engine: ForwardEngine, graph: ModelGraph, state: StateDict, sites: readonly GraphNode[], data: Dataset, signal?: AbortSignal): Promise<Map<string, SiteTargets>> {
  const moments = await engine.moments(graph, state, sites.map((s) => s.id), data, signal);
  return new Map([...moments].map(([id, m]) => [id, { mean: m.mean.slice(), std: m.std() }]));
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

/** The tensors a site's kind folds the correction into; undefined where one is missing (a linear layer without bias). */
function foldTensors(graph: ModelGraph, node: GraphNode): { scaled: { name: string; axis: number }; shift: string } | undefined {
  const fold = node.kind.repair!.fold(graph.layout);
  const [scaled, shift] = [node.params[fold.scale.role], node.params[fold.shift]];
  return scaled && shift ? { scaled: { name: scaled.tensor, axis: fold.scale.axis }, shift: shift.tensor } : undefined;
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
 * REPAIR (Jordan et al. 2022) in one pass over the calibration data: each site normalises the
 * merged net's output with its batch statistics and applies the target mean/std as the pass
 * reaches it, so every site's statistics are measured with the earlier sites already corrected;
 * the measured moments are then fused into the weights: g = sd_t / sqrt(var + eps), W' = g W,
 * b' = mu_t + g (b - mu). When the whole calibration set is one batch (the ONNX Runtime engine
 * makes it one wherever it fits its memory budget), a site's batch statistics are its exact
 * statistics, the normalisation is exactly the fold, and this one pass equals the layer-by-layer
 * definition (one pass per site, each after folding the ones before). With several batches, the
 * earlier sites are corrected with each batch's statistics during the pass (as the paper's own
 * code does with BatchNorm in train mode), which differs from the fold by sampling noise.
 */
export async function repairState(engine: ForwardEngine, graph: ModelGraph, merged: StateDict, targets: Map<string, SiteTargets>, data: Dataset, signal?: AbortSignal): Promise<{ state: StateDict; issues: SiteIssue[] }> {
  const issues: SiteIssue[] = [];
  const usable = new Map<string, SiteTargets>();
  for (const [id, t] of targets) {
    if (t.mean.every(Number.isFinite) && t.std.every((v) => Number.isFinite(v) && v >= 0)) usable.set(id, t);
    else issues.push({ site: id, code: 'non_finite_target', message: `site ${id}: the parents' statistics are not finite` });
  }
  const measured = await engine.repairMoments(graph, merged, usable, data, signal);
  const state: StateDict = new Map(merged);
  for (const [id, target] of usable) {
    const node = graph.byId.get(id)!;
    const m = measured.get(id)!;
    const variance = m.variance();
    const gain = target.std.map((sd, c) => sd / Math.sqrt(variance[c] + REPAIR_EPS));
    if (!m.mean.every(Number.isFinite) || !variance.every(Number.isFinite)) {
      issues.push({ site: id, code: 'non_finite_stats', message: `site ${id}: the merged net's activations are not finite` });
      continue;
    }
    const worst = gain.reduce((a, g) => Math.max(a, g), 0);
    if (!(worst <= MAX_GAIN)) {
      issues.push({ site: id, code: 'huge_gain', message: `site ${id}: a channel would need gain ${worst.toExponential(2)} (> ${MAX_GAIN}); its merged variance has collapsed` });
      continue;
    }
    const fold = foldTensors(graph, node);
    if (!fold) {
      issues.push({ site: id, code: 'cannot_fold', message: `site ${id}: the layer has no bias to absorb the correction` });
      continue;
    }
    const { scaled, shift } = fold;
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
