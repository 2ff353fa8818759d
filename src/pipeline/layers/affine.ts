import type { Layer, Layout, Conv2dLayer, LinearLayer, PatchEmbedLayer } from '../../contracts/index.ts';
import type { InferContext, OnnxContext, PermContext, Placement, RepairSite } from './kind.ts';
import { featuresOf, type FeatureShape } from './shape.ts';

/** The kinds built on one weight and bias. */
type AffineLayer = LinearLayer | Conv2dLayer | PatchEmbedLayer;

/**
 * What linear, conv2d and patchembed share: a weight whose output axis opens a new permutation space and whose
 * input axis is permuted by the input's, an optional bias, PyTorch's default initialisation, and
 * REPAIR folding into the weight's output rows and the bias.
 */
export const AFFINE_NAMES: Record<Layout, { weight: string; bias: string }> = {
  pytorch: { weight: 'weight', bias: 'bias' },
  tfjs: { weight: 'kernel', bias: 'bias' },
};

/** Which axes of the weight (checkpoint layout) hold the outputs and the inputs. */
export type WeightAxes = (layout: Layout) => { out: number; in: number };

type AffineContext = InferContext<AffineLayer>;

/**
 * The output count: the checkpoint weight's size on `axis`, or without a checkpoint the `out` hint;
 * when both exist they must agree.
 */
export function outputCount(ctx: AffineContext, axis: number): number {
  const suffix = AFFINE_NAMES[ctx.layout].weight;
  const found = ctx.checkpointShape(suffix);
  const hint = ctx.layer.out;
  if (!found) {
    if (hint === undefined) return ctx.fail('bad_architecture', 'needs "out" when no checkpoint is given');
    return hint;
  }
  const w = found[axis];
  if (w === undefined) return ctx.fail('shape_mismatch', `tensor "${ctx.tensorName(suffix)}" has shape [${found.join(', ')}]`);
  if (hint !== undefined && hint !== w) return ctx.fail('shape_mismatch', `tensor "${ctx.tensorName(suffix)}" has ${w} outputs, the architecture says ${hint}`);
  return w;
}

/**
 * A convolution's kernel height and width: from the checkpoint weight ([out, in, kh, kw] in
 * PyTorch's layout, [kh, kw, in, out] in tfjs's), or without one the architecture's `hint` (named
 * `field` there); when both exist they must agree.
 */
export function kernelSize(ctx: AffineContext, hint: number | undefined, field: string): [number, number] {
  const suffix = AFFINE_NAMES[ctx.layout].weight;
  const found = ctx.checkpointShape(suffix);
  if (found && found.length !== 4) return ctx.fail('shape_mismatch', `tensor "${ctx.tensorName(suffix)}" has shape [${found.join(', ')}]; a ${ctx.layer.type} weight has 4 axes`);
  const [kh, kw] = found ? (ctx.layout === 'pytorch' ? [found[2], found[3]] : [found[0], found[1]]) : [hint, hint];
  if (kh === undefined || kw === undefined) return ctx.fail('bad_architecture', `needs "${field}" when no checkpoint is given`);
  if (hint !== undefined && (kh !== hint || kw !== hint)) {
    return ctx.fail('shape_mismatch', `tensor "${ctx.tensorName(suffix)}" has a ${kh}x${kw} kernel, the architecture says ${hint}`);
  }
  return [kh, kw];
}

/**
 * Declare the weight (checkpoint shape, engine axis order) and the bias. Both start as PyTorch's
 * Linear and Conv2d do: Kaiming-uniform with a = sqrt(5), which is uniform on +-1/sqrt(fan_in).
 */
export function declareAffine(ctx: AffineContext, weight: number[], out: number, toEngine: number[] | undefined): void {
  const fanIn = weight.reduce((a, b) => a * b, 1) / out;
  const init = { uniform: 1 / Math.sqrt(fanIn) };
  const names = AFFINE_NAMES[ctx.layout];
  ctx.param('weight', { suffix: names.weight, shape: weight, toEngine, init });
  if (ctx.layer.bias) ctx.param('bias', { suffix: names.bias, shape: [out], init });
}

/** Opens a space on its outputs (weight rows, bias); its inputs are permuted by the input's space. */
export const affinePermute = (axes: WeightAxes) => (ctx: PermContext<AffineLayer>): Placement => {
  const { out, in: inAxis } = axes(ctx.layout);
  const space = ctx.open(featuresOf(ctx.shape));
  ctx.act('weight', out, space);
  if (ctx.has('bias')) ctx.act('bias', 0, space);
  ctx.act('weight', inAxis, ctx.inputs[0]);
  return space;
};

/** A REPAIR site in nets without BatchNorm: the pre-activation, folded into weight rows and bias. */
export const affineRepair = (axes: WeightAxes): RepairSite => ({
  nets: 'plain',
  fold: (layout) => ({ scale: { role: 'weight', axis: axes(layout).out }, shift: 'bias' }),
});

/**
 * A dense map as ONNX nodes: rows of `x` ([N, in], or tokens [N, T, in], each token a row) times
 * the weight `role` in checkpoint layout (Gemm takes PyTorch's [out, in] as it is, by transB, and
 * tfjs's [in, out] directly), plus the bias `biasRole` where the layer has one.
 */
export function onnxDense(ctx: OnnxContext<Layer>, x: string, input: FeatureShape, out: number, role: string, biasRole: string): string {
  const { layout, param, has, op, constant } = ctx;
  const rows = input.kind === 'tokens' ? op('Reshape', [x, constant([-1, input.features], [2], 'int64')]) : x;
  const y = op('Gemm', has(biasRole) ? [rows, param(role), param(biasRole)] : [rows, param(role)], { transB: layout === 'pytorch' ? 1 : 0 });
  return input.kind === 'tokens' ? op('Reshape', [y, constant([-1, input.tokens, out], [3], 'int64')]) : y;
}
