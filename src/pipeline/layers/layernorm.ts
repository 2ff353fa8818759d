import * as tf from '@tensorflow/tfjs-core';
import type { LayerNormLayer } from '../../contracts/index.ts';
import type { LayerKind } from './kind.ts';
import { keepShape } from './kind.ts';
import { declareNormAffine, perChannel } from './norm.ts';
import { onnxDims } from './shape.ts';

/**
 * LayerNorm: each sample normalised over all its values (on a feature map that is GroupNorm(1, C);
 * on tokens, each token over its features, as transformers use it), then a per-channel affine. Not
 * a REPAIR site: nets with LayerNorm are corrected at their linear and conv outputs, as plain nets
 * are (DESIGN 4.4).
 */
export const layernorm: LayerKind<LayerNormLayer> = {
  arity: 'one',
  infer(ctx) {
    declareNormAffine(ctx);
    return keepShape(ctx);
  },
  op({ layer, inputs: [x], param }) {
    // tokens [N, T, D] are the rank-3 tensors: each token is its own sample
    const axes = x.rank === 3 ? [2] : x.shape.slice(1).map((_, i) => i + 1);
    const { mean, variance } = tf.moments(x, axes, true);
    const normed = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, layer.eps)));
    return tf.add(tf.mul(normed, param('scale')), param('shift'));
  },
  onnx({ layer, inputs: [x], inputShapes: [shape], param, op, perChannel: along, constant }) {
    // as the op: a token [N, T, D] over its features (axis 2), any other sample over all its values
    const axes = shape.kind === 'tokens' ? [2] : onnxDims(shape).map((_, i) => i + 1);
    const mean = op('ReduceMean', [x], { axes, keepdims: 1 });
    const centred = op('Sub', [x, mean]);
    const variance = op('ReduceMean', [op('Mul', [centred, centred])], { axes, keepdims: 1 });
    const normed = op('Div', [centred, op('Sqrt', [op('Add', [variance, constant([layer.eps])])])]);
    return op('Add', [op('Mul', [normed, along(param('scale'), shape)]), along(param('shift'), shape)]);
  },
  permute: perChannel(['scale', 'shift']),
};
