import { z } from 'zod';

/**
 * Fields every layer schema shares (DESIGN 4.1). `name` is the tensor prefix in the checkpoint; `id`
 * names a layer for `inputs` (default: the name, else `#index`), and `inputs` defaults to the
 * previous layer so plain Sequential nets need none.
 */
export const common = {
  id: z.string().min(1).optional(),
  inputs: z.array(z.string().min(1)).min(1).max(8).optional(),
};
/** a layer with parameters: its name is where they are in the checkpoint */
export const named = { ...common, name: z.string().min(1).max(256) };
/** a layer without parameters may still carry a name (as a module path), unused */
export const unnamed = { ...common, name: z.string().optional() };

export const positive = z.number().int().min(1).max(64);
/** `out` and `kernel` are optional: read from the checkpoint, checked against it when given. */
export const outChannels = z.number().int().min(1).max(1_000_000).optional();
export const eps = z.number().positive().max(1).default(1e-5);
