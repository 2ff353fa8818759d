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

export const BuiltinDatasetName = z.enum(['mnist', 'fashion-mnist']);
export const BuiltinDataset = z.strictObject({
  builtin: BuiltinDatasetName,
  split: z.enum(['train', 'test']).default('test'),
  limit: z.number().int().min(1).max(1_000_000).optional(),
});
export type BuiltinDataset = z.infer<typeof BuiltinDataset>;
