import { z } from 'zod';
import { unnamed } from './common.ts';

/** The sum of two or more inputs of one shape: residual connections. */
export const AddLayer = z.strictObject({ type: z.literal('add'), ...unnamed, inputs: z.array(z.string().min(1)).min(2).max(8) });
export type AddLayer = z.infer<typeof AddLayer>;
