import * as tf from '@tensorflow/tfjs-core';
import type { GeluLayer, ReluLayer } from '../../contracts/index.ts';
import type { LayerKind } from './kind.ts';
import { keepShape, keepSpace } from './kind.ts';

/** An element-wise nonlinearity: shape and space pass through; its outputs are activation matching's taps. */
const nonlinearity = <L extends ReluLayer | GeluLayer>(fn: (x: tf.Tensor, layer: L) => tf.Tensor, onnx: LayerKind<L>['onnx']): LayerKind<L> => ({
  arity: 'one',
  infer: keepShape,
  op: ({ inputs: [x], layer }) => fn(x, layer),
  onnx,
  permute: keepSpace,
  tap: 'nonlinearity',
});

export const relu = nonlinearity<ReluLayer>((x) => tf.relu(x), ({ inputs: [x], op }) => op('Relu', [x]));

const TANH_SCALE = Math.sqrt(2 / Math.PI);
/**
 * GELU in its exact form, x/2 (1 + erf(x / sqrt 2)), as PyTorch's default; or its tanh
 * approximation x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), PyTorch's approximate="tanh".
 * ONNX's own Gelu operator needs opset 20: both are spelled out in opset 17's element-wise ops.
 */
export const gelu = nonlinearity<GeluLayer>(
  (x, layer) => {
    const inner = layer.approximate === 'tanh'
      ? tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), TANH_SCALE))
      : tf.erf(tf.mul(x, Math.SQRT1_2));
    return tf.mul(tf.mul(x, 0.5), tf.add(1, inner));
  },
  ({ layer, inputs: [x], op, constant }) => {
    const inner = layer.approximate === 'tanh'
      ? op('Tanh', [op('Mul', [op('Add', [x, op('Mul', [op('Mul', [op('Mul', [x, x]), x]), constant([0.044715])])]), constant([TANH_SCALE])])])
      : op('Erf', [op('Mul', [x, constant([Math.SQRT1_2])])]);
    return op('Mul', [op('Mul', [x, constant([0.5])]), op('Add', [constant([1]), inner])]);
  },
);
