import * as tf from '@tensorflow/tfjs-core';
import type { GeluLayer, ReluLayer } from '../../contracts/index.ts';
import type { LayerKind } from './kind.ts';
import { keepShape, keepSpace } from './kind.ts';

/** An element-wise nonlinearity: shape and space pass through; its outputs are activation matching's taps. */
const nonlinearity = <L extends ReluLayer | GeluLayer>(fn: (x: tf.Tensor, layer: L) => tf.Tensor): LayerKind<L> => ({
  arity: 'one',
  infer: keepShape,
  op: ({ inputs: [x], layer }) => fn(x, layer),
  permute: keepSpace,
  tap: 'nonlinearity',
});

export const relu = nonlinearity<ReluLayer>((x) => tf.relu(x));
/**
 * GELU in its exact form, x/2 (1 + erf(x / sqrt 2)), as PyTorch's default; or its tanh
 * approximation x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), PyTorch's approximate="tanh".
 */
export const gelu = nonlinearity<GeluLayer>((x, layer) => {
  const inner = layer.approximate === 'tanh'
    ? tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI)))
    : tf.erf(tf.mul(x, Math.SQRT1_2));
  return tf.mul(tf.mul(x, 0.5), tf.add(1, inner));
});
