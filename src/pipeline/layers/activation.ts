import * as tf from '@tensorflow/tfjs-core';
import type { GeluLayer, ReluLayer } from '../../contracts/index.ts';
import type { LayerKind } from './kind.ts';
import { keepShape, keepSpace } from './kind.ts';

/** An element-wise nonlinearity: shape and space pass through; its outputs are activation matching's taps. */
const nonlinearity = <L extends ReluLayer | GeluLayer>(fn: (x: tf.Tensor) => tf.Tensor, onnx: LayerKind<L>['onnx']): LayerKind<L> => ({
  arity: 'one',
  infer: keepShape,
  op: ({ inputs: [x] }) => fn(x),
  onnx,
  permute: keepSpace,
  tap: 'nonlinearity',
});

export const relu = nonlinearity<ReluLayer>((x) => tf.relu(x), ({ inputs: [x], op }) => op('Relu', [x]));
/** GELU in its exact form, x/2 (1 + erf(x / sqrt 2)), as PyTorch's default. */
export const gelu = nonlinearity<GeluLayer>(
  (x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))),
  ({ inputs: [x], op, constant }) => op('Mul', [op('Mul', [x, constant([0.5])]), op('Add', [constant([1]), op('Erf', [op('Mul', [x, constant([Math.SQRT1_2])])])])]),
);
