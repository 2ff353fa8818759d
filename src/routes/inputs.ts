import type { MergeRequest } from '../contracts/mergeRequest.ts';
import type { FieldError } from '../contracts/problem.ts';
import { keys, parseS3Uri } from '../storage/keys.ts';
import type { BlobStore } from '../storage/store.ts';
import { ProblemError } from './problem.ts';

type Ref = { upload: string } | { uri: string } | { url: string } | { builtin: string };

/** Every file a request names, with its path in the body (for the problem's `errors`). */
function references(req: MergeRequest): Array<[string, Ref]> {
  const out: Array<[string, Ref]> = req.models.map((m, i) => [`models.${i}`, m as Ref]);
  if (req.data.calibration) out.push(['data.calibration', req.data.calibration as Ref]);
  out.push(['data.evaluation', req.data.evaluation as Ref]);
  return out;
}

/**
 * Checks that every referenced input exists and is non-empty before a job is created, so a bad
 * reference fails now with its field path rather than minutes later in the runner.
 */
export async function checkInputs(
  req: MergeRequest,
  tenant: string,
  store: BlobStore,
  allowedBuckets: readonly string[],
  fetchUrl: typeof fetch = fetch,
  maxBytes = Number.POSITIVE_INFINITY,
): Promise<void> {
  const notFound: FieldError[] = [];
  const tooLarge: FieldError[] = [];
  // Presigned PUTs sign the size, but not every S3-compatible server enforces it: check again here.
  const checkSize = (path: string, size: number) => {
    if (size > maxBytes) tooLarge.push({ path, message: `${size} bytes, over the limit of ${maxBytes}` });
  };
  const notAllowed: FieldError[] = [];
  await Promise.all(
    references(req).map(async ([path, ref]) => {
      if ('upload' in ref) {
        const info = await store.head(keys.upload(tenant, ref.upload));
        if (!info || info.size === 0) notFound.push({ path: `${path}.upload`, message: `no upload ${ref.upload} (or it is empty)` });
        else checkSize(`${path}.upload`, info.size);
      } else if ('uri' in ref) {
        const loc = parseS3Uri(ref.uri);
        if (!loc || loc.bucket === store.bucket || !allowedBuckets.includes(loc.bucket)) {
          // The service's own bucket holds other tenants' data: reach it only through `upload` ids.
          notAllowed.push({ path: `${path}.uri`, message: 'bucket is not on the allow-list' });
          return;
        }
        if (loc.key.endsWith('/')) {
          // a model folder: the runner reads what it needs under the prefix; here, that there is something
          const page = await store.forBucket(loc.bucket).list(loc.key, { limit: 1 });
          if (!page.objects.length) notFound.push({ path: `${path}.uri`, message: `no objects under ${ref.uri}` });
          return;
        }
        const info = await store.forBucket(loc.bucket).head(loc.key);
        if (!info || info.size === 0) notFound.push({ path: `${path}.uri`, message: `no object ${ref.uri}` });
        else checkSize(`${path}.uri`, info.size);
      } else if ('url' in ref) {
        try {
          const res = await fetchUrl(ref.url, { method: 'HEAD', redirect: 'follow', signal: AbortSignal.timeout(5000) });
          await res.body?.cancel();
          if (!res.ok) notFound.push({ path: `${path}.url`, message: `HEAD answered ${res.status}` });
          else if (res.headers.get('content-length') === '0') notFound.push({ path: `${path}.url`, message: 'the file is empty' });
        } catch (err) {
          notFound.push({ path: `${path}.url`, message: `unreachable: ${(err as Error).message}` });
        }
      }
    }),
  );
  const byPath = (a: FieldError, b: FieldError) => (a.path < b.path ? -1 : 1);
  if (notAllowed.length) throw new ProblemError(422, 'input_not_allowed', 'an s3:// reference names a bucket this service may not read', notAllowed.sort(byPath));
  if (tooLarge.length) throw new ProblemError(422, 'input_too_large', 'referenced inputs exceed the upload limit', tooLarge.sort(byPath));
  if (notFound.length) throw new ProblemError(422, 'input_not_found', 'referenced inputs do not exist', notFound.sort(byPath));
}
