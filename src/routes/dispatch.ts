import { DispatchHeaders, type DispatchMessage } from '../contracts/job.ts';
import { hmacSha256Hex } from './crypto.ts';

/** Where jobs are offered, and the shared secret that signs each offer. */
export interface RunnerTarget {
  url: string;
  secret: string;
}

export async function signDispatch(secret: string, body: string, timestamp: number): Promise<string> {
  return `sha256=${await hmacSha256Hex(secret, `${timestamp}.${body}`)}`;
}

/**
 * Offers a job to the runner; true when it answered 2xx. Never throws: an unreachable or failing
 * runner leaves the job `queued` in S3 (see pending.ts for how it is offered again).
 */
export async function dispatchJob(
  runner: RunnerTarget | undefined,
  msg: DispatchMessage,
  timeoutMs = 2000,
): Promise<boolean> {
  if (!runner) return false;
  const body = JSON.stringify(msg);
  const ts = Math.floor(Date.now() / 1000);
  try {
    const res = await fetch(runner.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [DispatchHeaders.timestamp]: String(ts),
        [DispatchHeaders.signature]: await signDispatch(runner.secret, body, ts),
      },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}
