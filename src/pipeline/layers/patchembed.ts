import * as tf from '@tensorflow/tfjs-core';
import type { PatchEmbedLayer } from '../../contracts/index.ts';
import { affinePermute, declareAffine, kernelSize, outputCount, type WeightAxes } from './affine.ts';
import type { LayerKind } from './kind.ts';
import { mapInput } from './kind.ts';
import { describeShape, type FeatureShape } from './shape.ts';

/** As conv2d: PyTorch [out, in, kh, kw]; tfjs [kh, kw, in, out], the engine's order. */
const axes: WeightAxes = (layout) => (layout === 'pytorch' ? { out: 0, in: 1 } : { out: 3, in: 2 });

const tokens = (count: number, features: number): FeatureShape => ({ kind: 'tokens', tokens: count, features });

/**
 * Patch embedding: a convolution with kernel = stride = the patch (no padding), its [h, w, D] output
 * read as h*w tokens in row-major order, which is PyTorch's `proj(x).flatten(2).transpose(1, 2)`.
 * It opens the residual stream's space. Not a REPAIR site: measured on the example ViT pair,
 * correcting it as well raised the repaired midpoint's loss barrier (0.79 -> 0.94 after activation
 * matching, 1.12 -> 1.15 after weight matching; README, Vision Transformers).
 */
export const patchembed: LayerKind<PatchEmbedLayer> = {
  arity: 'one',
  infer(ctx) {
    const { layout } = ctx;
    const input = mapInput(ctx);
    const out = outputCount(ctx, axes(layout).out);
    const [ph, pw] = kernelSize(ctx, ctx.layer.patch, 'patch');
    const c = input.channels;
    declareAffine(ctx, layout === 'pytorch' ? [out, c, ph, pw] : [ph, pw, c, out], out, layout === 'pytorch' ? [2, 3, 1, 0] : undefined);
    const [h, w] = [Math.floor(input.height / ph), Math.floor(input.width / pw)];
    if (h < 1 || w < 1) return ctx.fail('bad_graph', `input ${describeShape(input)} is smaller than a ${ph}x${pw} patch`);
    return tokens(h * w, out);
  },
  op({ inputs: [x], param, has }) {
    const w = param('weight') as tf.Tensor4D;
    const [ph, pw] = w.shape;
    const map = tf.conv2d(x as tf.Tensor4D, w, [ph, pw], 'valid');
    const y = tf.reshape(map, [map.shape[0], map.shape[1] * map.shape[2], map.shape[3]]);
    return has('bias') ? tf.add(y, param('bias')) : y;
  },
  onnx({ layout, inputs: [x], shape, param, paramShape, has, op, constant }) {
    // ONNX's Conv is PyTorch's ([out, in, kh, kw] over NCHW); its [N, D, h, w] output read as [N, h*w, D]
    const [ph, pw] = layout === 'pytorch' ? paramShape('weight').slice(2) : paramShape('weight').slice(0, 2);
    const w = layout === 'pytorch' ? param('weight') : op('Transpose', [param('weight')], { perm: [3, 2, 0, 1] });
    const map = op('Conv', has('bias') ? [x, w, param('bias')] : [x, w], { kernel_shape: [ph, pw], strides: [ph, pw] });
    const d = shape.kind === 'tokens' ? shape.features : 0;
    return op('Transpose', [op('Reshape', [map, constant([0, d, -1], [3], 'int64')])], { perm: [0, 2, 1] });
  },
  permute: affinePermute(axes),
};
