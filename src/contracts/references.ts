import { z } from 'zod';

/** Where a checkpoint or dataset lives. `path` is accepted by the CLI only (see MergeRequestFor). */
export const UploadRef = z.strictObject({ upload: z.string().regex(/^upl_[A-Za-z0-9_-]{6,64}$/) });
export const UriRef = z.strictObject({ uri: z.string().regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/.+$/, 'expected s3://bucket/key') });
export const UrlRef = z.strictObject({ url: z.url({ protocol: /^https$/ }) });
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
