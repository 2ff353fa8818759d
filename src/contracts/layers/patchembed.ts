import { z } from 'zod';
import { named, outChannels, positive } from './common.ts';

/**
 * Patch embedding: a convolution whose kernel and stride are the patch size, its output map read as
 * a token sequence in row-major patch order (timm's PatchEmbed, Hugging Face's ViTPatchEmbeddings).
 * `patch` and `out` come from the checkpoint when there is one, and are checked against it.
 */
export const PatchEmbedLayer = z.strictObject({
  type: z.literal('patchembed'),
  ...named,
  patch: positive.optional(),
  out: outChannels,
  bias: z.boolean().default(true),
});
export type PatchEmbedLayer = z.infer<typeof PatchEmbedLayer>;
