import type { OpenSource } from '../pipeline/prepare.ts';
import { bufferSource, readHeader, type ByteSource } from '../pipeline/io/safetensors.ts';
import { keys, parseS3Uri } from '../storage/keys.ts';
import type { Outbound } from '../storage/outbound/client.ts';
import { downloadInput, InputFailure, type InputLimits } from '../storage/outbound/inputs.ts';
import type { BlobStore } from '../storage/store.ts';
import { JobFailure } from './failure.ts';

/** A `url` download's limits: one bounded file, streamed; a slow server cannot hold a job forever. */
const URL_LIMITS: InputLimits = { maxBytes: 2 * 1024 ** 3, timeoutMs: 10 * 60_000, connectTimeoutMs: 10_000 };

/**
 * How the runner opens a request's files: uploads and allow-listed `s3://` objects as ranged S3
 * reads (a checkpoint is never loaded whole, only the tensors the graph needs), URLs as one bounded
 * download through the outbound guard. The edge checked each reference when the job was created;
 * they are checked again here because objects can vanish (and DNS answers change) in between.
 */
export function remoteSources(store: BlobStore, tenant: string, allowedBuckets: readonly string[], outbound: Outbound, limits = URL_LIMITS): OpenSource {
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
      src = await download(outbound, ref.url, what, limits);
    } else {
      throw new JobFailure('unsupported_reference', `${what}: local paths are for the CLI only`);
    }
    return src;
  };
}

/**
 * A URL's bytes, accepted only as a well-formed safetensors file: the parser's own errors would
 * quote what the server sent (a header length is the first 8 bytes of the answer), so they are
 * reduced to one class here.
 */
async function download(outbound: Outbound, url: string, what: string, limits: InputLimits): Promise<ByteSource> {
  let bytes: Uint8Array;
  try {
    bytes = await downloadInput(outbound, url, limits);
  } catch (err) {
    if (err instanceof InputFailure) throw new JobFailure(err.code, `${what}: ${err.message}`);
    throw err;
  }
  const src = bufferSource(bytes);
  try {
    await readHeader(src);
  } catch {
    throw new JobFailure('input_not_safetensors', `${what}: the file at this URL is not a valid safetensors file`);
  }
  return src;
}
