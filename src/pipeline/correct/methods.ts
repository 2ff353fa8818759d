import type { Dataset } from '../io/datasets.ts';
import type { ModelGraph } from '../model/graph.ts';
import type { PermSpec } from '../model/permspec.ts';
import { interpolateTargets, repairSites, repairState, siteStatistics, type SiteIssue, type SiteTargets } from './repair.ts';
import { resetBatchNorm } from './reset.ts';
import type { StateDict } from '../model/tensor.ts';
import type { ForwardEngine } from '../runtime/engine.ts';

export interface CorrectionContext {
  graph: ModelGraph;
  spec: PermSpec;
  /** the sweep's two ends as parent groups: [model 0], [aligned models 1..N-1] */
  sides: [readonly StateDict[], readonly StateDict[]];
  calibration: Dataset;
  engine: ForwardEngine;
  logits: boolean;
  signal?: AbortSignal;
}
/** Prepared once per merge (the parents' statistics, once per model), then applied at each alpha (one pass). */
export interface Correction {
  /** ids of the layers it corrects, for the report */
  sites: string[];
  apply(merged: StateDict, alpha: number): Promise<{ state: StateDict; issues: SiteIssue[] }>;
}
export interface CorrectionMethodImpl {
  prepare(ctx: CorrectionContext): Promise<Correction>;
}

function averageTargets(list: Map<string, SiteTargets>[]): Map<string, SiteTargets> {
  if (list.length === 1) return list[0];
  const out = new Map<string, SiteTargets>();
  for (const id of list[0].keys()) {
    const mean = new Float64Array(list[0].get(id)!.mean.length);
    const std = new Float64Array(mean.length);
    for (const m of list) m.get(id)!.mean.forEach((v, c) => { mean[c] += v / list.length; });
    for (const m of list) m.get(id)!.std.forEach((v, c) => { std[c] += v / list.length; });
    out.set(id, { mean, std });
  }
  return out;
}

export const correctionMethods: Record<'repair' | 'reset', CorrectionMethodImpl> = {
  repair: {
    async prepare(ctx) {
      const sites = repairSites(ctx.graph, ctx.spec, { logits: ctx.logits });
      const stats = async (side: readonly StateDict[]) => {
        const each = [];
        for (const s of side) each.push(await siteStatistics(ctx.engine, ctx.graph, s, sites, ctx.calibration, ctx.signal));
        return averageTargets(each);
      };
      const [a, b] = [await stats(ctx.sides[0]), await stats(ctx.sides[1])];
      return { sites: sites.map((n) => n.id), apply: (merged, alpha) => repairState(ctx.engine, ctx.graph, merged, interpolateTargets(a, b, alpha), ctx.calibration, ctx.signal) };
    },
  },
  reset: {
    async prepare(ctx) {
      return { sites: ctx.graph.nodes.filter((n) => n.kind.runningStats).map((n) => n.id), apply: (merged) => resetBatchNorm(ctx.engine, ctx.graph, merged, ctx.calibration, ctx.signal) };
    },
  },
};
