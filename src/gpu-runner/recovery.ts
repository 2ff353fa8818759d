import { DispatchMessage, Job, terminalStatuses } from '../contracts/job.ts';
import { isKeySegment, keys } from '../storage/keys.ts';
import type { BlobStore } from '../storage/store.ts';
import { heartbeatFresh } from './lifecycle.ts';

export interface ScanResult {
  /** queued jobs, and running ones whose runner stopped beating */
  take: DispatchMessage[];
  /** index entries of finished or vanished jobs, removed */
  closed: number;
}

/**
 * Jobs a runner should take, from the open-jobs index (DESIGN 2: a job is never lost). Oldest first:
 * job ids sort by creation time.
 */
export async function scanOpenJobs(store: BlobStore, staleMs: number): Promise<ScanResult> {
  const result: ScanResult = { take: [], closed: 0 };
  let cursor: string | undefined;
  do {
    const page = await store.list(keys.openJobs(), { cursor });
    for (const obj of page.objects) {
      const marker = DispatchMessage.safeParse(await store.getJson(obj.key).catch(() => undefined));
      if (!marker.success || !isKeySegment(marker.data.tenant)) {
        await store.delete(obj.key);
        result.closed++;
        continue;
      }
      const { tenant, jobId } = marker.data;
      const job = Job.safeParse(await store.getJson(keys.jobFile(tenant, jobId, 'status.json')));
      if (!job.success || terminalStatuses.includes(job.data.status)) {
        await store.delete(obj.key);
        result.closed++;
      } else if (job.data.status === 'queued' || !heartbeatFresh(job.data, staleMs)) {
        result.take.push(marker.data);
      }
    }
    cursor = page.cursor;
  } while (cursor);
  result.take.sort((a, b) => (a.jobId < b.jobId ? -1 : 1));
  return result;
}
