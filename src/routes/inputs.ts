import type { MergeRequest } from '../contracts/mergeRequest.ts';
import type { FieldError, ProblemCode } from '../contracts/problem.ts';
import { keys, parseS3Uri } from '../storage/keys.ts';
import type { Outbound } from '../storage/outbound/client.ts';
import { InputFailure, MAX_URL_INPUT_BYTES, probeInput } from '../storage/outbound/inputs.ts';
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

/** A `url` reference's existence check, bounded so a slow host cannot hold the request. */
const URL_CHECK_TIMEOUT_MS = 5000;

/** The problem a request with failing references answers with: the first of these codes that applies. */
const precedence: Array<[ProblemCode, string]> = [
  ['input_not_allowed', 'an s3:// reference names a bucket this service may not read'],
  ['input_refused', 'a URL reference points where this service does not fetch from'],
  ['input_too_large', 'referenced inputs exceed the upload limit'],
  ['input_not_found', 'referenced inputs do not exist'],
  ['input_unreachable', 'a URL reference could not be fetched'],
];

/** Uploads already seen in S3, with their sizes (the jobs database keeps them: see JobStore). */
export interface UploadLedger {
  verifiedUploads(tenant: string, ids: string[]): Promise<Map<string, number>>;
  rememberUpload(tenant: string, id: string, size: number): Promise<void>;
}

/**
 * Checks that every referenced input exists and is non-empty before a job is created, so a bad
 * reference fails now with its field path rather than minutes later in the runner. `url`
 * references go through the outbound guard, and their failures say only which class they are. An
 * upload found once is not looked up in S3 again: its presigned PUT has expired or will write the same size.
 */
export async function checkInputs(
  req: MergeRequest,
  tenant: string,
  store: BlobStore,
  allowedBuckets: readonly string[],
  outbound: Outbound,
  maxBytes = Number.POSITIVE_INFINITY,
  ledger?: UploadLedger,
): Promise<void> {
  const failures = new Map<ProblemCode, FieldError[]>();
  const fail = (code: ProblemCode, path: string, message: string) => failures.set(code, [...(failures.get(code) ?? []), { path, message }]);
  // Presigned PUTs sign the size, but not every S3-compatible server enforces it: check again here.
  const checkSize = (path: string, size: number) => {
    if (size > maxBytes) fail('input_too_large', path, `${size} bytes, over the limit of ${maxBytes}`);
  };
  const refs = references(req);
  const uploadIds = refs.flatMap(([, ref]) => ('upload' in ref ? [ref.upload] : []));
  const seen = ledger ? await ledger.verifiedUploads(tenant, uploadIds) : new Map<string, number>();
  await Promise.all(
    refs.map(async ([path, ref]) => {
      if ('upload' in ref) {
        const known = seen.get(ref.upload);
        const info = known !== undefined ? { size: known } : await store.head(keys.upload(tenant, ref.upload));
        if (!info || info.size === 0) fail('input_not_found', `${path}.upload`, `no upload ${ref.upload} (or it is empty)`);
        else {
          checkSize(`${path}.upload`, info.size);
          if (known === undefined) await ledger?.rememberUpload(tenant, ref.upload, info.size);
        }
      } else if ('uri' in ref) {
        const loc = parseS3Uri(ref.uri);
        if (!loc || loc.bucket === store.bucket || !allowedBuckets.includes(loc.bucket)) {
          // The service's own bucket holds other tenants' data: reach it only through `upload` ids.
          fail('input_not_allowed', `${path}.uri`, 'bucket is not on the allow-list');
          return;
        }
        if (loc.key.endsWith('/')) {
          // a model folder: the runner reads what it needs under the prefix; here, that there is something
          const page = await store.forBucket(loc.bucket).list(loc.key, { limit: 1 });
          if (!page.objects.length) fail('input_not_found', `${path}.uri`, `no objects under ${ref.uri}`);
          return;
        }
        const info = await store.forBucket(loc.bucket).head(loc.key);
        if (!info || info.size === 0) fail('input_not_found', `${path}.uri`, `no object ${ref.uri}`);
        else checkSize(`${path}.uri`, info.size);
      } else if ('url' in ref) {
        try {
          await probeInput(outbound, ref.url, { maxBytes: Math.min(maxBytes, MAX_URL_INPUT_BYTES), timeoutMs: URL_CHECK_TIMEOUT_MS });
        } catch (err) {
          if (!(err instanceof InputFailure)) throw err;
          fail(err.code, `${path}.url`, err.message);
        }
      }
    }),
  );
  const byPath = (a: FieldError, b: FieldError) => (a.path < b.path ? -1 : 1);
  for (const [code, title] of precedence) {
    const errors = failures.get(code);
    if (errors) throw new ProblemError(422, code, title, errors.sort(byPath));
  }
}
