import { z } from 'zod';
import { unnamed } from './common.ts';

export const IdentityLayer = z.strictObject({ type: z.literal('identity'), ...unnamed });
export type IdentityLayer = z.infer<typeof IdentityLayer>;
