import { MergeRequest, type Report } from '../contracts/index.ts';
import { initBackend } from '../pipeline/runtime/backend.ts';
import { createEngine } from '../pipeline/runtime/engines.ts';
import { runMerge } from '../pipeline/merge.ts';
import { prepareMerge, type OpenSource } from '../pipeline/prepare.ts';
import { encodeSafetensors } from '../pipeline/io/safetensors.ts';
import { renderReportHtml } from '../pipeline/report/html.ts';
import { renderReportSvg } from '../pipeline/report/svg.ts';
import { nodeHost } from '../pipeline/runtime/nodeHost.ts';
import { keys, type ResultFile } from '../storage/keys.ts';
import type { Outbound } from '../storage/outbound/client.ts';
import { nodeOutbound } from '../storage/outbound/node.ts';
import { publicOnly } from '../storage/outbound/policy.ts';
import type { BlobStore } from '../storage/store.ts';
import { JobFailure, jobError } from './failure.ts';
import { remoteSources } from './sources.ts';

/** The job's stages as the job document names them: the engine's, between loading and writing. */
export type JobStage = 'load' | 'align' | 'repair' | 'sweep' | 'output' | 'write';

/** Share of the whole job each stage stands for, for one progress figure (the sweep dominates). */
const STAGE_SPAN: Record<JobStage, [number, number]> = {
  load: [0, 0.05], align: [0.05, 0.3], repair: [0.3, 0.4], sweep: [0.4, 0.95], output: [0.95, 0.97], write: [0.97, 1],
};
/** Rounded to 0.1 %: clients print it, and 0.8999999999999999 is noise, not precision. */
export function overallProgress(stage: JobStage, fraction: number): number {
  const [from, to] = STAGE_SPAN[stage];
  return Math.round((from + (to - from) * Math.min(1, Math.max(0, fraction))) * 1000) / 1000;
}

export interface ExecuteOptions {
  /** the job's stored request (from the jobs table), validated again here */
  request: unknown;
  store: BlobStore;
  allowedBuckets: readonly string[];
  tenant: string;
  jobId: string;
  onProgress?: (stage: JobStage, fraction: number) => void;
  signal?: AbortSignal;
  /** how checkpoints and datasets are opened (default: S3 and URLs, see sources.ts) */
  open?: OpenSource;
  /** the guard `url` inputs are fetched through (default: public internet only) */
  outbound?: Outbound;
}

/** Does the request read a file from a URL, i.e. bytes someone else's server chose? */
const readsUrl = (request: MergeRequest) =>
  [...request.models, request.data.calibration, request.data.evaluation].some((ref) => ref !== undefined && 'url' in ref);

/**
 * The engine's errors quote what they read (tensor names, shapes, dtypes, header fields). For a
 * request that reads a URL that is text a remote server chose, and a job error must never carry it
 * back: such errors keep their code and lose their details. Uploads are the tenant's own bytes, so
 * requests without URLs keep the full message.
 */
function withheld(err: unknown): JobFailure {
  if (err instanceof JobFailure) return err; // the runner's own messages: nothing remote in them
  const { code } = jobError(err);
  const failure = new JobFailure(code, 'details are withheld because this merge reads an input from a URL (upload the files to see them)');
  return Object.assign(failure, { cause: err }); // the operator's log still gets the original
}

/**
 * One job, start to finish: validate the request, load inputs, merge, write `report.svg`, `report.html`,
 * `report.json` and `merged.safetensors`. Deterministic for a given request, so a job run twice (a retry, a
 * recovery after a crash) writes the same weights. Throws JobFailure or the engine's errors.
 */
export async function executeJob(opts: ExecuteOptions): Promise<Report> {
  const { store, tenant, jobId } = opts;
  const progress = opts.onProgress ?? (() => {});
  const t0 = performance.now();
  progress('load', 0);
  const parsed = MergeRequest.safeParse(opts.request);
  if (!parsed.success) throw new JobFailure('bad_request', `stored request does not validate: ${parsed.error.issues[0]?.message}`);
  const request = parsed.data;
  const backend = await initBackend({ hasGpuDevice: nodeHost.hasGpuDevice });
  const { engine } = await createEngine({ threads: nodeHost.threads(), batchSize: request.compute.batchSize });
  const open = opts.open ?? remoteSources(store, tenant, opts.allowedBuckets, opts.outbound ?? nodeOutbound(publicOnly));
  let result: Awaited<ReturnType<typeof runMerge>>;
  try {
    const prepared = await prepareMerge(request, open, nodeHost);
    opts.signal?.throwIfAborted();
    progress('load', 1);
    result = await runMerge({
      ...prepared,
      options: request,
      backend: backend.name,
      engine,
      loadSeconds: (performance.now() - t0) / 1000,
      onProgress: progress,
      signal: opts.signal,
    });
  } catch (err) {
    throw readsUrl(request) ? withheld(err) : err;
  }
  const { merged, report } = result;
  progress('write', 0);
  const file = (name: ResultFile) => keys.jobFile(tenant, jobId, name);
  await store.putBytes(file('report.svg'), renderReportSvg(report), 'image/svg+xml');
  await store.putBytes(file('report.html'), renderReportHtml(report), 'text/html; charset=utf-8');
  await store.putBytes(file('report.json'), JSON.stringify(report, null, 2) + '\n', 'application/json');
  progress('write', 0.3);
  await store.putBytes(file('merged.safetensors'), encodeSafetensors(merged, {
    format: 'pt', producer: 'basin', variant: report.merged.variant, alpha: String(report.merged.alpha),
  }));
  progress('write', 1);
  return report;
}
