import type { OpenSource } from '../pipeline/prepare.ts';
import { bufferSource, type ByteSource } from '../pipeline/io/safetensors.ts';
import { keys, parseS3Uri } from '../storage/keys.ts';
import type { BlobStore } from '../storage/store.ts';
import { JobFailure } from './failure.ts';

/**
 * How the runner opens a request's files: uploads and allow-listed `s3://` objects as ranged S3
 * reads (a checkpoint is never loaded whole, only the tensors the graph needs), https URLs as one
 * bounded download. The edge checked each reference when the job was created; they are checked
 * again here because objects can vanish in between.
 */
export function remoteSources(store: BlobStore, tenant: string, allowedBuckets: readonly string[], maxUrlBytes = 2 * 1024 ** 3): OpenSource {
  return async (ref, what) => {
    let src: ByteSource | undefined;
    if ('upload' in ref) {
      src = await store.source(keys.upload(tenant, ref.upload));
      if (!src) throw new JobFailure('input_not_found', `${what}: upload ${ref.upload} no longer exists`);
    } else if ('uri' in ref) {
      const loc = parseS3Uri(ref.uri);
      if (!loc || loc.bucket === store.bucket || !allowedBuckets.includes(loc.bucket)) throw new JobFailure('input_not_allowed', `${what}: ${ref.uri} is not in an allow-listed bucket`);
      src = await store.forBucket(loc.bucket).source(loc.key);
      if (!src) throw new JobFailure('input_not_found', `${what}: ${ref.uri} no longer exists`);
    } else if ('url' in ref) {
      src = await download(ref.url, what, maxUrlBytes);
    } else {
      throw new JobFailure('unsupported_reference', `${what}: local paths are for the CLI only`);
    }
    return src;
  };
}

async function download(url: string, what: string, maxBytes: number): Promise<ByteSource> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(10 * 60_000) });
  } catch (err) {
    throw new JobFailure('input_not_found', `${what}: ${url} is unreachable: ${(err as Error).message}`);
  }
  if (!res.ok || !res.body) throw new JobFailure('input_not_found', `${what}: ${url} answered ${res.status}`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.length;
    if (size > maxBytes) {
      await res.body.cancel().catch(() => {});
      throw new JobFailure('input_too_large', `${what}: ${url} is over ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  const buf = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) { buf.set(c, at); at += c.length; }
  return bufferSource(buf);
}
