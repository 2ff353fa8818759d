import type { OpenSource } from '../pipeline/prepare.ts';
import { bufferSource, type ByteSource } from '../pipeline/io/safetensors.ts';
import { isReadableFormat } from '../pipeline/io/checkpoint.ts';
import type { FileTree, Input } from '../pipeline/io/fileTree.ts';
import { keys, parseS3Uri } from '../storage/keys.ts';
import type { Outbound } from '../storage/outbound/client.ts';
import { downloadInput, InputFailure, MAX_URL_INPUT_BYTES, type InputLimits } from '../storage/outbound/inputs.ts';
import type { BlobStore } from '../storage/store.ts';
import { JobFailure } from './failure.ts';

/** A `url` download's limits: one bounded file, streamed; a slow server cannot hold a job forever. */
const URL_LIMITS: InputLimits = { maxBytes: MAX_URL_INPUT_BYTES, timeoutMs: 10 * 60_000, connectTimeoutMs: 10_000 };

/** Most objects a model folder (an `s3://bucket/prefix/` reference) may hold. */
const MAX_PREFIX_OBJECTS = 20_000;

/**
 * An `s3://bucket/prefix/` reference as a folder: every object under the prefix, each opened for
 * ranged reads. Sharded safetensors, config.json + weights and tfjs model.json + shards written by a
 * training pipeline are read in place, like a directory on disk.
 */
async function prefixTree(store: BlobStore, prefix: string, uri: string, what: string): Promise<FileTree> {
  const files = new Map<string, number>();
  let cursor: string | undefined;
  do {
    const page = await store.list(prefix, { cursor });
    for (const o of page.objects) {
      if (o.key.endsWith('/')) continue; // folder markers
      if (files.size >= MAX_PREFIX_OBJECTS) throw new JobFailure('input_too_large', `${what}: ${uri} holds more than ${MAX_PREFIX_OBJECTS} objects; point at the model's own folder`);
      files.set(o.key.slice(prefix.length), o.size);
    }
    cursor = page.cursor;
  } while (cursor);
  if (!files.size) throw new JobFailure('input_not_found', `${what}: no objects under ${uri}`);
  return {
    label: uri,
    files,
    async open(path) {
      const src = await store.source(prefix + path);
      if (!src) throw new JobFailure('input_not_found', `${what}: ${uri}${path} no longer exists`);
      return src;
    },
  };
}

/**
 * How the runner opens a request's files: uploads and allow-listed `s3://` objects as ranged S3
 * reads (a checkpoint is never loaded whole, only the tensors the graph needs), `s3://` prefixes
 * ending in `/` as folders, URLs as one bounded download through the outbound guard. What the bytes
 * are (safetensors, a torch.save file, an archive of a model folder) is the engine's to sniff. The
 * edge checked each reference when the job was created; they are checked again here because objects
 * can vanish (and DNS answers change) in between.
 */
export function remoteSources(store: BlobStore, tenant: string, allowedBuckets: readonly string[], outbound: Outbound, limits = URL_LIMITS): OpenSource {
  return async (ref, what): Promise<Input> => {
    let src: ByteSource | undefined;
    if ('upload' in ref) {
      src = await store.source(keys.upload(tenant, ref.upload));
      if (!src) throw new JobFailure('input_not_found', `${what}: upload ${ref.upload} no longer exists`);
    } else if ('uri' in ref) {
      const loc = parseS3Uri(ref.uri);
      if (!loc || loc.bucket === store.bucket || !allowedBuckets.includes(loc.bucket)) throw new JobFailure('input_not_allowed', `${what}: ${ref.uri} is not in an allow-listed bucket`);
      if (loc.key.endsWith('/')) return prefixTree(store.forBucket(loc.bucket), loc.key, ref.uri, what);
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
 * A URL's bytes, accepted only in a format basin reads: the parsers' own errors would quote what the
 * server sent (a safetensors header length is the first 8 bytes of the answer), so a file that is
 * none of them is reduced to one class here (and the engine's later errors lose their details in
 * execute.ts).
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
  if (!(await isReadableFormat(src))) throw new JobFailure('input_unsupported_format', `${what}: the file at this URL is not in a format basin reads (safetensors, a torch.save file, or a .zip / .tar / .tar.gz of a model folder)`);
  return src;
}
