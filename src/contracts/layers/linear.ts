import { z } from 'zod';
import { named, outChannels } from './common.ts';

export const LinearLayer = z.strictObject({ type: z.literal('linear'), ...named, bias: z.boolean().default(true), out: outChannels });
export type LinearLayer = z.infer<typeof LinearLayer>;
