import { z } from 'zod';
import { named } from './common.ts';

/**
 * Learned tokens put before the sequence (a class token; several for register tokens). The tensor
 * is `name` itself ([1, count, D]), as an nn.Parameter is saved: `cls_token`,
 * `vit.embeddings.cls_token`. `count` comes from the checkpoint when there is one (default 1).
 */
export const ClsTokenLayer = z.strictObject({ type: z.literal('clstoken'), ...named, count: z.number().int().min(1).max(64).optional() });
export type ClsTokenLayer = z.infer<typeof ClsTokenLayer>;
