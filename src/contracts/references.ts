import { z } from 'zod';

/** Where a checkpoint or dataset lives. `path` is accepted by the CLI only (see MergeRequestFor). */
export const UploadRef = z.strictObject({ upload: z.string().regex(/^upl_[A-Za-z0-9_-]{6,64}$/) });
export const UriRef = z.strictObject({ uri: z.string().regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/.+$/, 'expected s3://bucket/key') });
/**
 * A URL the service fetches (a model, a dataset, a webhook receiver): http(s) and no credentials,
 * which would be stored with the request and sent to wherever the URL leads. Whether the host may be
 * reached (public internet over https, or the operator's allow-list) is the outbound guard's call.
 */
export const FetchableUrl = z
  .url({ protocol: /^https?$/ })
  .refine((u) => URL.canParse(u) && !new URL(u).username && !new URL(u).password, 'URLs with credentials (user:password@) are not accepted');
export const UrlRef = z.strictObject({ url: FetchableUrl });
export const PathRef = z.strictObject({ path: z.string().min(1).max(4096) });

export const RemoteRef = z.union([UploadRef, UriRef, UrlRef]);
export const AnyRef = z.union([UploadRef, UriRef, UrlRef, PathRef]);
export type RemoteRef = z.infer<typeof RemoteRef>;
export type AnyRef = z.infer<typeof AnyRef>;

/**
 * Per-channel input normalisation, `(x - mean[c]) / std[c]`, applied to the samples as loaded (uint8
 * already scaled to [0, 1]); one value each applies to every channel. The channel axis is the
 * layout's: the first sample axis for pytorch (C,H,W), the last for tfjs (H,W,C).
 */
export const Normalization = z
  .strictObject({
    mean: z.array(z.number()).min(1).max(4096),
    std: z.array(z.number().positive()).min(1).max(4096),
  })
  .refine((n) => n.mean.length === n.std.length, { path: ['std'], message: 'mean and std need the same number of values (one per channel, or one for all)' })
  .meta({ id: 'Normalization', example: { mean: [0.2860], std: [0.3530] } });
export type Normalization = z.infer<typeof Normalization>;

/** What any dataset reference may add: a prefix of its samples, and a normalisation. */
export const datasetOptions = {
  limit: z.number().int().min(1).max(1_000_000).optional(),
  normalize: Normalization.optional(),
};

export const BuiltinDatasetName = z.enum(['mnist', 'fashion-mnist']);
export const BuiltinDataset = z.strictObject({
  builtin: BuiltinDatasetName,
  split: z.enum(['train', 'test']).default('test'),
  ...datasetOptions,
});
export type BuiltinDataset = z.infer<typeof BuiltinDataset>;
