import * as tf from '@tensorflow/tfjs-core';
import type { Conv2dLayer } from '../../contracts/index.ts';
import { affinePermute, affineRepair, declareAffine, kernelSize, outputCount, type WeightAxes } from './affine.ts';
import type { LayerKind, OnnxAttr } from './kind.ts';
import { describeShape, featureMap } from './shape.ts';

/** PyTorch Conv2d [out, in, kh, kw]; tfjs Conv2D [kh, kw, in, out], which is the engine's order. */
const axes: WeightAxes = (layout) => (layout === 'pytorch' ? { out: 0, in: 1 } : { out: 3, in: 2 });

export const conv2d: LayerKind<Conv2dLayer> = {
  arity: 'one',
  infer(ctx) {
    const { layer, layout } = ctx;
    const input = ctx.inputs[0];
    if (input.kind !== 'map') return ctx.fail('bad_graph', `input has shape ${describeShape(input)}; conv2d needs [C, H, W]`);
    const out = outputCount(ctx, axes(layout).out);
    const [kh, kw] = kernelSize(ctx, layer.kernel, 'kernel');
    const c = input.channels;
    declareAffine(ctx, layout === 'pytorch' ? [out, c, kh, kw] : [kh, kw, c, out], out, layout === 'pytorch' ? [2, 3, 1, 0] : undefined);
    const s = layer.stride;
    const size = (n: number, k: number) => (layer.padding === 'same' ? Math.ceil(n / s) : Math.floor((n + 2 * layer.padding - k) / s) + 1);
    const [oh, ow] = [size(input.height, kh), size(input.width, kw)];
    if (oh < 1 || ow < 1) return ctx.fail('bad_graph', `input ${describeShape(input)} is too small for a ${kh}x${kw} kernel`);
    return featureMap(out, oh, ow);
  },
  op({ layer, inputs: [x], param, has }) {
    const y = tf.conv2d(x as tf.Tensor4D, param('weight') as tf.Tensor4D, layer.stride, layer.padding);
    return has('bias') ? tf.add(y, param('bias')) : y;
  },
  onnx({ layer, layout, inputs: [x], param, has, op }) {
    // ONNX's Conv is PyTorch's: [out, in, kh, kw] weights over NCHW maps; tfjs's [kh, kw, in, out] is turned
    const w = layout === 'pytorch' ? param('weight') : op('Transpose', [param('weight')], { perm: [3, 2, 0, 1] });
    const p = layer.padding;
    // TensorFlow's 'same' puts the odd padding row/column at the end, as SAME_UPPER does
    const pad: Record<string, OnnxAttr> = p === 'same' ? { auto_pad: 'SAME_UPPER' } : { pads: [p, p, p, p] };
    return op('Conv', has('bias') ? [x, w, param('bias')] : [x, w], { strides: [layer.stride, layer.stride], ...pad });
  },
  permute: affinePermute(axes),
  repair: affineRepair(axes),
};
