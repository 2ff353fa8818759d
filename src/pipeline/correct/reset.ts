import type { Dataset } from '../io/datasets.ts';
import type { ModelGraph } from '../model/graph.ts';
import type { FloatTensor, StateDict } from '../model/tensor.ts';
import type { ForwardEngine } from '../runtime/engine.ts';
import type { SiteIssue } from './repair.ts';

/**
 * RESET for BatchNorm nets: re-estimate the running mean and variance of every kind that keeps them
 * (BatchNorm) in the merged net on calibration data (exact average over the data, not momentum),
 * each normalising with batch statistics during the pass as PyTorch's train mode does. With the
 * whole calibration set in one batch (ONNX Runtime, where it fits) that is each BatchNorm's exact
 * statistics with the earlier ones already reset.
 */
export async function resetBatchNorm(engine: ForwardEngine, graph: ModelGraph, merged: StateDict, data: Dataset, signal?: AbortSignal): Promise<{ state: StateDict; issues: SiteIssue[] }> {
  const bns = graph.nodes.filter((n) => n.kind.runningStats);
  const acc = await engine.batchStatsMoments(graph, merged, data, signal);
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
    const roles = node.kind.runningStats!;
    const [meanName, varName] = [node.params[roles.mean].tensor, node.params[roles.variance].tensor];
    state.set(meanName, { ...(state.get(meanName) as FloatTensor), data: Float32Array.from(m.mean) });
    state.set(varName, { ...(state.get(varName) as FloatTensor), data: Float32Array.from(variance) });
  }
  return { state, issues };
}
