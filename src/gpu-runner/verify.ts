import { createHmac, timingSafeEqual } from 'node:crypto';
import { DispatchHeaders } from '../contracts/job.ts';

/** Dispatches older or newer than this are refused (replays). */
const TOLERANCE_S = 300;

/**
 * Checks the edge's signature on a dispatch: `sha256=` + HMAC-SHA256(secret, `${timestamp}.${body}`).
 * Returns a reason when it fails, undefined when it holds.
 */
export function verifyDispatch(secret: string, headers: Headers, body: string, now = Date.now()): string | undefined {
  const ts = headers.get(DispatchHeaders.timestamp);
  const sig = headers.get(DispatchHeaders.signature);
  if (!ts || !sig) return `missing ${DispatchHeaders.timestamp} or ${DispatchHeaders.signature}`;
  const t = Number(ts);
  if (!Number.isInteger(t) || Math.abs(now / 1000 - t) > TOLERANCE_S) return 'timestamp outside tolerance';
  const want = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`);
  const got = Buffer.from(sig);
  return got.length === want.length && timingSafeEqual(got, want) ? undefined : 'signature does not match';
}
