import { z } from 'zod';
import { unnamed } from './common.ts';

/** Element-wise nonlinearities: one kind each, the same fields. */
export const ReluLayer = z.strictObject({ type: z.literal('relu'), ...unnamed });
export type ReluLayer = z.infer<typeof ReluLayer>;
/** GELU: the exact (erf) form, PyTorch's default, or its tanh approximation (`nn.GELU(approximate="tanh")`). */
export const GeluLayer = z.strictObject({ type: z.literal('gelu'), ...unnamed, approximate: z.enum(['none', 'tanh']).default('none') });
export type GeluLayer = z.infer<typeof GeluLayer>;
