import { z } from 'zod';
import { unnamed } from './common.ts';

/**
 * Tokens to one feature vector: the first token (`token`, a class token) or the mean of the tokens
 * after the first `skip` (`avg`; timm averages the patch tokens only, skipping its prefix tokens).
 */
export const TokenPoolLayer = z.strictObject({
  type: z.literal('tokenpool'),
  ...unnamed,
  pool: z.enum(['token', 'avg']).default('token'),
  skip: z.number().int().min(0).max(64).default(0),
});
export type TokenPoolLayer = z.infer<typeof TokenPoolLayer>;
