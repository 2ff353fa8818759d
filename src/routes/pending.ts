import { DispatchMessage } from '../contracts/job.ts';
import { isKeySegment, keys } from '../storage/keys.ts';
import type { BlobStore } from '../storage/store.ts';
import { dispatchJob, type RunnerTarget } from './dispatch.ts';
import { JobStore } from './jobs.ts';

/**
 * Dispatch that survives a runner outage. A job the runner did not take stays `queued` (runners
 * also find such jobs by scanning S3 when they start) and gets a marker under `dispatch/pending/`;
 * `reofferPending` offers marked jobs again, oldest first, from a timer, a cron or the next request.
 */

/** Offers a new job; when the runner does not take it, leaves a marker so it is offered again. */
export async function offerJob(store: BlobStore, runner: RunnerTarget | undefined, msg: DispatchMessage, timeoutMs?: number): Promise<boolean> {
  if (!runner) return false; // no runner configured: runners find queued jobs by scanning S3
  if (await dispatchJob(runner, msg, timeoutMs)) return true;
  try {
    await store.putJson(keys.pendingDispatch(msg.jobId), { ...msg, since: new Date().toISOString() });
  } catch (err) {
    // S3 failing too: the job document is already written, so a runner's start-up scan still finds it
    console.warn(`basin edge: could not mark ${msg.jobId} for re-offer: ${(err as Error).message}`);
  }
  return false;
}

export interface ReofferResult {
  /** dispatched and accepted by the runner */
  offered: string[];
  /** markers removed without a dispatch: the job left `queued` (claimed by a scan, canceled) or is gone */
  dropped: string[];
  /** markers left for the next pass (the runner refused or was unreachable) */
  remaining: number;
}

/**
 * One pass over the pending markers (at most `limit`). Stops at the first refused dispatch: the
 * runner is down, and trying every job would cost one timeout each.
 */
export async function reofferPending(
  store: BlobStore,
  runner: RunnerTarget | undefined,
  opts: { limit?: number; timeoutMs?: number } = {},
): Promise<ReofferResult> {
  const result: ReofferResult = { offered: [], dropped: [], remaining: 0 };
  if (!runner) return result;
  const jobs = new JobStore(store);
  const page = await store.list(keys.pendingDispatches(), { limit: opts.limit ?? 100 });
  for (const [i, obj] of page.objects.entries()) {
    const msg = await readMarker(store, obj.key);
    const job = msg && (await jobs.find(msg.tenant, msg.jobId));
    if (!msg || !job || job.status !== 'queued') {
      await store.delete(obj.key);
      result.dropped.push(msg?.jobId ?? obj.key);
      continue;
    }
    if (!(await dispatchJob(runner, msg, opts.timeoutMs))) {
      result.remaining = page.objects.length - i;
      break;
    }
    await store.delete(obj.key);
    result.offered.push(job.id);
  }
  return result;
}

/** A marker's message, or undefined for one that is gone or not ours to trust (it is then dropped). */
async function readMarker(store: BlobStore, key: string): Promise<DispatchMessage | undefined> {
  try {
    const raw = (await store.getJson(key)) as { jobId?: unknown; tenant?: unknown } | undefined;
    const msg = DispatchMessage.safeParse({ jobId: raw?.jobId, tenant: raw?.tenant });
    return msg.success && isKeySegment(msg.data.tenant) ? msg.data : undefined;
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/**
 * `reofferPending` at most once per `intervalMs` and never two passes at once, however many callers
 * ask (every request, a timer, a cron); `force` skips the interval. Resolves to the pass's result,
 * or undefined when none ran. Errors are logged, not thrown: this runs in the background.
 */
export function throttledReoffer(store: BlobStore, runner: RunnerTarget | undefined, intervalMs: number, timeoutMs?: number) {
  let last = Number.NEGATIVE_INFINITY;
  let running: Promise<ReofferResult | undefined> | undefined;
  return (force = false): Promise<ReofferResult | undefined> => {
    if (!runner) return Promise.resolve(undefined);
    // One pass at a time; callers meanwhile get nothing rather than the running promise (a Worker
    // must not wait on a promise that belongs to another request's context).
    if (running) return Promise.resolve(undefined);
    if (!force && Date.now() - last < intervalMs) return Promise.resolve(undefined);
    last = Date.now();
    running = reofferPending(store, runner, { timeoutMs })
      .catch((err: unknown) => {
        console.warn(`basin edge: re-offer pass failed: ${(err as Error).message}`);
        return undefined;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
}
