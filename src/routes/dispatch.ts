import type { DispatchMessage } from '../contracts/job.ts';
import { hmacSha256Hex } from './crypto.ts';

/** Header names of a dispatch; the runner verifies HMAC-SHA256(secret, `${timestamp}.${body}`). */
export const DispatchHeaders = { timestamp: 'x-basin-timestamp', signature: 'x-basin-signature' } as const;

export async function signDispatch(secret: string, body: string, timestamp: number): Promise<string> {
  return `sha256=${await hmacSha256Hex(secret, `${timestamp}.${body}`)}`;
}

/**
 * Offers a job to the runner. Never throws: an unreachable or failing runner leaves the job
 * `queued` in S3, where a runner finds it when it starts (DESIGN 2), so nothing is lost.
 */
export async function dispatchJob(
  runner: { url: string; secret: string } | undefined,
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
