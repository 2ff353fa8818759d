import { z } from 'zod';
import { named, outChannels, positive } from './common.ts';

export const Conv2dLayer = z.strictObject({
  type: z.literal('conv2d'),
  ...named,
  stride: positive.default(1),
  padding: z.union([z.number().int().min(0).max(64), z.literal('same')]).default(0),
  bias: z.boolean().default(true),
  out: outChannels,
  kernel: z.number().int().min(1).max(15).optional(),
});
export type Conv2dLayer = z.infer<typeof Conv2dLayer>;
