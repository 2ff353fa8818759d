import { MergeRequest, type Report } from '../contracts/index.ts';
import { initBackend } from '../pipeline/runtime/backend.ts';
import { createEngine } from '../pipeline/runtime/engines.ts';
import { runMerge } from '../pipeline/merge.ts';
import { prepareMerge, type OpenSource } from '../pipeline/prepare.ts';
import { encodeSafetensors } from '../pipeline/io/safetensors.ts';
import { renderReportSvg } from '../pipeline/report/svg.ts';
import { nodeHost } from '../pipeline/runtime/nodeHost.ts';
import { keys } from '../storage/keys.ts';
import type { BlobStore } from '../storage/store.ts';
import { JobFailure } from './failure.ts';
import { remoteSources } from './sources.ts';

/** The job's stages as the job document names them: the engine's, between loading and writing. */
export type JobStage = 'load' | 'align' | 'repair' | 'sweep' | 'output' | 'write';

/** Share of the whole job each stage stands for, for one progress figure (the sweep dominates). */
const STAGE_SPAN: Record<JobStage, [number, number]> = {
  load: [0, 0.05], align: [0.05, 0.3], repair: [0.3, 0.4], sweep: [0.4, 0.95], output: [0.95, 0.97], write: [0.97, 1],
};
export function overallProgress(stage: JobStage, fraction: number): number {
  const [from, to] = STAGE_SPAN[stage];
  return from + (to - from) * Math.min(1, Math.max(0, fraction));
}

export interface ExecuteOptions {
  store: BlobStore;
  allowedBuckets: readonly string[];
  tenant: string;
  jobId: string;
  onProgress?: (stage: JobStage, fraction: number) => void;
  signal?: AbortSignal;
  /** how checkpoints and datasets are opened (default: S3 and https, see sources.ts) */
  open?: OpenSource;
}

/**
 * One job, start to finish: read the request, load inputs, merge, write `report.svg`, `report.json`
 * and `merged.safetensors`. Deterministic for a given request, so a job run twice (a retry, a
 * recovery after a crash) writes the same weights. Throws JobFailure or the engine's errors.
 */
export async function executeJob(opts: ExecuteOptions): Promise<Report> {
  const { store, tenant, jobId } = opts;
  const progress = opts.onProgress ?? (() => {});
  const t0 = performance.now();
  progress('load', 0);
  const raw = await store.getJson(keys.jobFile(tenant, jobId, 'request.json'));
  if (raw === undefined) throw new JobFailure('request_missing', `job ${jobId} has no request.json`);
  const parsed = MergeRequest.safeParse(raw);
  if (!parsed.success) throw new JobFailure('bad_request', `stored request does not validate: ${parsed.error.issues[0]?.message}`);
  const request = parsed.data;
  const backend = await initBackend({ hasGpuDevice: nodeHost.hasGpuDevice });
  const { engine } = await createEngine({ threads: nodeHost.threads(), batchSize: request.compute.batchSize });
  const prepared = await prepareMerge(request, opts.open ?? remoteSources(store, tenant, opts.allowedBuckets), nodeHost.packageFiles);
  opts.signal?.throwIfAborted();
  progress('load', 1);
  const { merged, report } = await runMerge({
    ...prepared,
    options: request,
    backend: backend.name,
    engine,
    loadSeconds: (performance.now() - t0) / 1000,
    onProgress: progress,
    signal: opts.signal,
  });
  progress('write', 0);
  const file = (name: 'report.svg' | 'report.json' | 'merged.safetensors') => keys.jobFile(tenant, jobId, name);
  await store.putBytes(file('report.svg'), renderReportSvg(report), 'image/svg+xml');
  await store.putBytes(file('report.json'), JSON.stringify(report, null, 2) + '\n', 'application/json');
  progress('write', 0.3);
  await store.putBytes(file('merged.safetensors'), encodeSafetensors(merged, {
    format: 'pt', producer: 'basin', variant: report.merged.variant, alpha: String(report.merged.alpha),
  }));
  progress('write', 1);
  return report;
}
