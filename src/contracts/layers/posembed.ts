import { z } from 'zod';
import { named } from './common.ts';

/** A learned position embedding added to every token: the tensor is `name` itself, [1, tokens, D] (`pos_embed`). */
export const PosEmbedLayer = z.strictObject({ type: z.literal('posembed'), ...named });
export type PosEmbedLayer = z.infer<typeof PosEmbedLayer>;
