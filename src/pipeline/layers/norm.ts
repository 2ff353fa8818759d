import type { BatchNormLayer, LayerNormLayer, Layout } from '../../contracts/index.ts';
import type { InferContext, PermContext, Placement } from './kind.ts';
import { featuresOf } from './shape.ts';

/**
 * What the normalisation kinds share: a per-channel affine (scale 1, shift 0 when fresh) over their
 * input's features, every per-channel tensor permuted by the input's space.
 */
export const NORM_NAMES: Record<Layout, { scale: string; shift: string }> = {
  pytorch: { scale: 'weight', shift: 'bias' },
  tfjs: { scale: 'gamma', shift: 'beta' },
};

/** Declares scale and shift over the input's features; returns their count. */
export function declareNormAffine(ctx: InferContext<BatchNormLayer | LayerNormLayer>): number {
  const c = featuresOf(ctx.inputs[0]);
  const names = NORM_NAMES[ctx.layout];
  ctx.param('scale', { suffix: names.scale, shape: [c], init: { fill: 1 } });
  ctx.param('shift', { suffix: names.shift, shape: [c], init: { fill: 0 } });
  return c;
}

/** Passes its input's space through and permutes each of its per-channel tensors with it. */
export const perChannel = (roles: readonly string[]) => (ctx: PermContext<BatchNormLayer | LayerNormLayer>): Placement => {
  const input = ctx.inputs[0];
  for (const role of roles) if (ctx.has(role)) ctx.act(role, 0, input);
  return input;
};
