import type { Outbound, OutboundResponse } from './client.ts';
import { OutboundError } from './errors.ts';

/**
 * A model or dataset given as a URL, checked (the edge) or downloaded (the runner). Failures are
 * classes with fixed messages: a caller learns that the URL was refused, unreachable, missing or too
 * large, never what the server sent (no status line, no bytes, no header value) nor which address
 * or port answered, so the service is no probe into anyone's network.
 */
export type InputFailureCode = 'input_refused' | 'input_unreachable' | 'input_not_found' | 'input_too_large';

export class InputFailure extends Error {
  constructor(
    readonly code: InputFailureCode,
    message: string,
  ) {
    super(message);
    this.name = 'InputFailure';
  }
}

/** Redirects followed, each re-checked: file hosts commonly answer with one to their CDN. */
const MAX_REDIRECTS = 3;

/**
 * The largest file the runner downloads from a URL (it holds the download in memory). The edge's
 * check uses the same bound, so a URL it accepts is one the runner will take.
 */
export const MAX_URL_INPUT_BYTES = 2 * 1024 ** 3;

export interface InputLimits {
  maxBytes: number;
  timeoutMs: number;
  connectTimeoutMs?: number;
}

/**
 * The edge's existence check: a GET of the first byte (`Range: bytes=0-0`), answered 2xx with a size
 * that is neither 0 nor over the limit. Not a HEAD: a presigned S3 GET URL (the usual way to hand a
 * pipeline's file to a service) is signed for GET and refuses any other method.
 */
export async function probeInput(outbound: Outbound, url: string, limits: InputLimits): Promise<void> {
  const res = await guarded(limits.maxBytes, () => outbound(url, { method: 'GET', headers: { range: 'bytes=0-0' }, maxRedirects: MAX_REDIRECTS, ...limits }));
  res.discard();
  // a range past the end of an empty file is "not satisfiable"
  if (res.status === 416) throw new InputFailure('input_not_found', 'the file at this URL is empty');
  expectFile(res, limits.maxBytes, res.status === 206 ? totalOfRange(res.header('content-range')) : res.header('content-length'));
}

/** The whole file's size from `Content-Range: bytes 0-0/SIZE` (`*` when the server does not say). */
function totalOfRange(contentRange: string | undefined): string | undefined {
  const total = /\/(\d+)\s*$/.exec(contentRange ?? '')?.[1];
  return total;
}

/** The runner's download: the whole file, streamed and cut off past the limit. */
export async function downloadInput(outbound: Outbound, url: string, limits: InputLimits): Promise<Uint8Array> {
  return guarded(limits.maxBytes, async () => {
    const res = await outbound(url, { method: 'GET', maxRedirects: MAX_REDIRECTS, ...limits });
    try {
      expectFile(res, limits.maxBytes);
    } catch (err) {
      res.discard();
      throw err;
    }
    return res.read(limits.maxBytes);
  });
}

function expectFile(res: OutboundResponse, maxBytes: number, length = res.header('content-length')): void {
  if (res.status >= 500) throw new InputFailure('input_unreachable', 'the server failed to answer');
  if (res.status < 200 || res.status > 299) throw new InputFailure('input_not_found', 'the server has no file at this URL, or does not serve it to this service');
  if (length === '0') throw new InputFailure('input_not_found', 'the file at this URL is empty');
  if (length !== undefined && Number(length) > maxBytes) throw tooLarge(maxBytes);
}

const tooLarge = (maxBytes: number) => new InputFailure('input_too_large', `the file at this URL is larger than the limit of ${maxBytes} bytes`);

async function guarded<T>(maxBytes: number, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (!(err instanceof OutboundError)) throw err;
    if (err.kind === 'refused') throw new InputFailure('input_refused', `the URL is refused: ${err.message}`);
    if (err.kind === 'too_large') throw tooLarge(maxBytes);
    throw new InputFailure('input_unreachable', `the URL could not be fetched: ${err.message}`);
  }
}
