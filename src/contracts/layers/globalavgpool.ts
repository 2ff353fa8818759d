import { z } from 'zod';
import { unnamed } from './common.ts';

export const GlobalAvgPoolLayer = z.strictObject({ type: z.literal('globalavgpool'), ...unnamed });
export type GlobalAvgPoolLayer = z.infer<typeof GlobalAvgPoolLayer>;
