import { z } from 'zod';
import { positive, unnamed } from './common.ts';

/** 2-D max and average pooling: one kind with the reduction as its type. */
export const PoolLayer = z.strictObject({
  type: z.enum(['maxpool', 'avgpool']),
  ...unnamed,
  kernel: positive.default(2),
  stride: positive.optional(),
  padding: z.number().int().min(0).max(32).default(0),
});
export type PoolLayer = z.infer<typeof PoolLayer>;
