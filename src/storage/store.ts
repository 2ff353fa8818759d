import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';

/** What the engine reads checkpoints through (structurally src/pipeline/io/safetensors.ts ByteSource). */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

export interface ObjectInfo {
  key: string;
  size: number;
  etag?: string;
  lastModified?: Date;
}

export interface ListPage {
  objects: ObjectInfo[];
  /** pass back as `cursor` for the next page; absent on the last page */
  cursor?: string;
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

/** S3 down or unreachable: the service's trouble, not the caller's, and worth a retry. */
export function isStorageOutage(err: unknown): boolean {
  const e = err as { code?: string; name?: string; $metadata?: { httpStatusCode?: number } };
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND'].includes(e?.code ?? '') ||
    e?.name === 'TimeoutError' ||
    (e?.$metadata?.httpStatusCode ?? 0) >= 500
  );
}

/**
 * The SDK retries failed requests, not a body cut off after the headers arrived (s3rver resets reads
 * that meet a write; networks drop).
 */
function cutOff(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === 'ECONNRESET' || e?.message === 'aborted';
}

/** A read whose body was cut off is made again, up to four times in all. */
async function readAgain<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (err) {
      if (!cutOff(err) || attempt >= 4) throw err;
      await new Promise((r) => setTimeout(r, 25 * attempt));
    }
  }
}

/** Typed access to one bucket. Missing objects are `undefined`, never exceptions. */
export class BlobStore {
  /**
   * `presigner` signs the URLs handed to clients; give it the endpoint clients can reach when that
   * differs from the one the service uses (an internal hostname, a private network).
   */
  constructor(
    readonly s3: S3Client,
    readonly bucket: string,
    readonly presigner: S3Client = s3,
  ) {}

  /** Same client, another (allow-listed) bucket: for `s3://` references. */
  forBucket(bucket: string): BlobStore {
    return bucket === this.bucket ? this : new BlobStore(this.s3, bucket, this.presigner);
  }

  async putBytes(key: string, body: Uint8Array | string, contentType = 'application/octet-stream'): Promise<void> {
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }));
  }

  async getBytes(key: string): Promise<Uint8Array | undefined> {
    try {
      return await readAgain(async () => {
        const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
        return out.Body ? await out.Body.transformToByteArray() : new Uint8Array(0);
      });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const out = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { key, size: out.ContentLength ?? 0, etag: out.ETag, lastModified: out.LastModified };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  /** One page of the objects under `prefix` (an `s3://bucket/prefix/` model folder is read this way). */
  async list(prefix: string, opts: { cursor?: string; limit?: number } = {}): Promise<ListPage> {
    const out = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, MaxKeys: opts.limit ?? 1000, ContinuationToken: opts.cursor }));
    return {
      objects: (out.Contents ?? []).map((o) => ({ key: o.Key!, size: o.Size ?? 0, etag: o.ETag, lastModified: o.LastModified })),
      cursor: out.IsTruncated ? out.NextContinuationToken : undefined,
    };
  }

  /** A presigned PUT; the signed Content-Length makes S3 refuse any other size. */
  presignPut(key: string, opts: { expiresIn: number; contentLength?: number; contentType?: string }): Promise<string> {
    const cmd = new PutObjectCommand({ Bucket: this.bucket, Key: key, ContentLength: opts.contentLength, ContentType: opts.contentType });
    const signableHeaders = new Set<string>();
    if (opts.contentLength !== undefined) signableHeaders.add('content-length');
    if (opts.contentType !== undefined) signableHeaders.add('content-type');
    return getSignedUrl(this.presigner, cmd, { expiresIn: opts.expiresIn, signableHeaders });
  }

  presignGet(key: string, opts: { expiresIn: number; filename?: string }): Promise<string> {
    const cmd = new GetObjectCommand({
      Bucket: this.bucket,
      Key: key,
      ResponseContentDisposition: opts.filename ? `attachment; filename="${opts.filename}"` : undefined,
    });
    return getSignedUrl(this.presigner, cmd, { expiresIn: opts.expiresIn });
  }

  /** Ranged reads of one object: checkpoints stream by safetensors offsets, never loaded whole. */
  async source(key: string): Promise<ByteSource | undefined> {
    const info = await this.head(key);
    if (!info) return undefined;
    const { s3, bucket } = this;
    const size = info.size;
    return {
      size,
      async read(offset: number, length: number): Promise<Uint8Array> {
        if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > size) {
          throw new RangeError(`read ${offset}+${length} outside ${key} (${size} bytes)`);
        }
        if (length === 0) return new Uint8Array(0);
        const bytes = await readAgain(async () => {
          const out = await s3.send(
            new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${offset}-${offset + length - 1}`, IfMatch: info.etag }),
          );
          return out.Body!.transformToByteArray();
        });
        if (bytes.length !== length) throw new Error(`short read of ${key}: wanted ${length} bytes, got ${bytes.length}`);
        return bytes;
      },
    };
  }
}
