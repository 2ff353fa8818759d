import { z } from 'zod';
import { unnamed } from './common.ts';

export const FlattenLayer = z.strictObject({ type: z.literal('flatten'), ...unnamed });
export type FlattenLayer = z.infer<typeof FlattenLayer>;
