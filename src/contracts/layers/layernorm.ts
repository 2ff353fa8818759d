import { z } from 'zod';
import { eps, named } from './common.ts';

/** On a conv feature map this normalises over (C,H,W) with a per-channel affine: GroupNorm(1, C). */
export const LayerNormLayer = z.strictObject({ type: z.literal('layernorm'), ...named, eps });
export type LayerNormLayer = z.infer<typeof LayerNormLayer>;
