import { constantTimeEqual } from './crypto.ts';
import { ProblemError } from './problem.ts';

const TOLERANCE_S = 300;

/**
 * Standard Webhooks verification: `webhook-signature` holds space-separated `v1,<base64>` entries,
 * each HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}` with the secret (base64 after
 * `whsec_`); timestamps more than 5 minutes off are refused (replays).
 */
export async function verifyStandardWebhook(secret: string, headers: Headers, body: string): Promise<void> {
  const id = headers.get('webhook-id');
  const ts = headers.get('webhook-timestamp');
  const sigs = headers.get('webhook-signature');
  const fail = (why: string) => new ProblemError(401, 'unauthorized', `webhook signature: ${why}`);
  if (!id || !ts || !sigs) throw fail('missing webhook-id, webhook-timestamp or webhook-signature');
  const t = Number(ts);
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > TOLERANCE_S) throw fail('timestamp outside tolerance');
  const keyBytes = secret.startsWith('whsec_') ? Uint8Array.from(atob(secret.slice(6)), (ch) => ch.charCodeAt(0)) : new TextEncoder().encode(secret);
  const key = await crypto.subtle.importKey('raw', keyBytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${id}.${ts}.${body}`)));
  const expected = btoa(String.fromCharCode(...mac));
  let ok = false;
  for (const entry of sigs.split(' ')) {
    const [version, sig] = entry.split(',', 2);
    if (version === 'v1' && sig !== undefined && constantTimeEqual(sig, expected)) ok = true;
  }
  if (!ok) throw fail('no matching v1 signature');
}
