import { z } from 'zod';
import { named } from './common.ts';

const modulePath = z.string().min(1).max(256);

/**
 * Multi-head self-attention on tokens: softmax(q k^T / sqrt(d_head)) v per head, then the output
 * projection. `qkv: "fused"` reads one [3D, D] projection with rows q, k, v, each head-major (timm's
 * `attn.qkv`, `attn.proj`); `"separate"` reads query, key and value projections (Hugging Face ViT's
 * `attention.query` ... `output.dense`). `names` overrides the projections' module paths under
 * `name` (written with dots; the tfjs layout uses its own separator).
 */
export const AttentionLayer = z.strictObject({
  type: z.literal('attention'),
  ...named,
  heads: z.number().int().min(1).max(1024),
  qkv: z.enum(['fused', 'separate']).default('fused'),
  /** token t attends only to tokens up to t */
  causal: z.boolean().default(false),
  qkvBias: z.boolean().default(true),
  projBias: z.boolean().default(true),
  names: z.strictObject({ qkv: modulePath, q: modulePath, k: modulePath, v: modulePath, proj: modulePath }).partial().optional(),
});
export type AttentionLayer = z.infer<typeof AttentionLayer>;
