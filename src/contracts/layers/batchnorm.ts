import { z } from 'zod';
import { eps, named } from './common.ts';

export const BatchNormLayer = z.strictObject({ type: z.literal('batchnorm'), ...named, eps });
export type BatchNormLayer = z.infer<typeof BatchNormLayer>;
