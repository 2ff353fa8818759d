import { z } from 'zod';

export const UploadId = z.string().regex(/^upl_[A-Za-z0-9_-]{6,64}$/).meta({ id: 'UploadId', example: 'upl_0mf3k2x9a1b2c3d4' });

/** POST /v1/uploads: the client states the exact size; the presigned PUT only accepts that many bytes. */
export const UploadCreate = z
  .strictObject({
    kind: z.enum(['checkpoint', 'dataset']).default('checkpoint'),
    /** bytes; bounded by the service's upload limit (checked in the route, it is configuration) */
    size: z.number().int().min(1),
    filename: z.string().min(1).max(255).optional(),
  })
  .meta({ id: 'UploadCreate' });
export type UploadCreate = z.infer<typeof UploadCreate>;

export const Upload = z
  .strictObject({
    id: UploadId,
    /** PUT the file's bytes here, with exactly these headers */
    url: z.url(),
    method: z.literal('PUT'),
    headers: z.record(z.string(), z.string()),
    expiresAt: z.iso.datetime(),
  })
  .meta({ id: 'Upload' });
export type Upload = z.infer<typeof Upload>;

/** GET /v1/merges/{id}/weights with `Accept: application/json`: a presigned GET, no redirect. */
export const WeightsLink = z
  .strictObject({
    /** GET this without the API key before `expiresAt` */
    url: z.url(),
    expiresAt: z.iso.datetime(),
  })
  .meta({ id: 'WeightsLink' });
export type WeightsLink = z.infer<typeof WeightsLink>;
