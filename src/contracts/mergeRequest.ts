import { z } from 'zod';
import { Architecture } from './architecture.ts';
import { AnyRef, BuiltinDataset, RemoteRef, UploadRef, UriRef, UrlRef, PathRef } from './references.ts';

const limit = { limit: z.number().int().min(1).max(1_000_000).optional() };

export const AlignmentMethod = z.enum(['weight', 'activation', 'none']);
export type AlignmentMethod = z.infer<typeof AlignmentMethod>;
export const RepairMethod = z.enum(['repair', 'reset', 'none', 'auto']);
export type RepairMethod = z.infer<typeof RepairMethod>;
export const Variant = z.enum(['naive', 'aligned', 'repaired']);
export type Variant = z.infer<typeof Variant>;

export const AlignmentOptions = z.strictObject({
  method: AlignmentMethod.default('weight'),
  seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
  maxIterations: z.number().int().min(1).max(1000).default(100),
  /** N models: align each to the first, or MergeMany (each to the mean of the others, repeated) */
  strategy: z.enum(['first', 'mergemany']).default('first'),
});
export const RepairOptions = z.strictObject({
  method: RepairMethod.default('auto'),
  /** also correct the logits layer (off in the REPAIR paper's default) */
  logits: z.boolean().default(false),
});
export const SweepOptions = z.strictObject({ points: z.number().int().min(2).max(101).default(11) });
export const OutputOptions = z.strictObject({
  /** where on the sweep's path the returned weights sit; default 0.5 for two models, (N-1)/N (the uniform average) for N */
  alpha: z.number().min(0).max(1).optional(),
  /** which variant's weights to return; default the most corrected one the request computes */
  variant: Variant.optional(),
});
export const ComputeOptions = z.strictObject({ batchSize: z.number().int().min(1).max(65_536).default(500) });
export const WebhookTarget = z.strictObject({ url: z.url({ protocol: /^https?$/ }) });

function requestSchema<R extends z.ZodType, F extends z.ZodType>(ref: R, files: F) {
  const dataset = z.union([BuiltinDataset, files]);
  return z.strictObject({
    models: z.array(ref).min(2).max(16),
    architecture: Architecture,
    data: z
      .strictObject({
        /** for activation matching and REPAIR/RESET; default: the train split of a built-in evaluation set, else the evaluation data */
        calibration: dataset.optional(),
        evaluation: dataset,
      }),
    alignment: AlignmentOptions.prefault({}),
    repair: RepairOptions.prefault({}),
    sweep: SweepOptions.prefault({}),
    output: OutputOptions.prefault({}),
    compute: ComputeOptions.prefault({}),
    webhook: WebhookTarget.optional(),
  });
}

const remoteFile = z.union([UploadRef.extend(limit), UriRef.extend(limit), UrlRef.extend(limit)]);
const anyFile = z.union([UploadRef.extend(limit), UriRef.extend(limit), UrlRef.extend(limit), PathRef.extend(limit)]);

/** The API's merge request: models and datasets are uploads, s3:// objects or https URLs. */
export const MergeRequest = requestSchema(RemoteRef, remoteFile);
/** The CLI's merge request: the same, plus local `{"path": ...}` references. */
export const LocalMergeRequest = requestSchema(AnyRef, anyFile);
export type MergeRequest = z.infer<typeof MergeRequest>;
export type LocalMergeRequest = z.infer<typeof LocalMergeRequest>;
export type MergeRequestInput = z.input<typeof MergeRequest>;
export type DatasetRef = LocalMergeRequest['data']['evaluation'];
