import * as tf from '@tensorflow/tfjs-core';
import type { PoolLayer } from '../../contracts/index.ts';
import type { LayerKind } from './kind.ts';
import { keepSpace, mapInput } from './kind.ts';
import { describeShape, featureMap } from './shape.ts';

function padded(x: tf.Tensor4D, pad: number, value: number): tf.Tensor4D {
  if (pad === 0) return x;
  return tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], value);
}

/** 2-D max or average pooling (`maxpool`, `avgpool`) per channel, with PyTorch's padding rules. */
export const pool: LayerKind<PoolLayer> = {
  arity: 'one',
  infer(ctx) {
    const { layer } = ctx;
    const input = mapInput(ctx);
    const s = layer.stride ?? layer.kernel;
    if (2 * layer.padding > layer.kernel) return ctx.fail('bad_graph', 'padding may be at most half the kernel');
    const size = (n: number) => Math.floor((n + 2 * layer.padding - layer.kernel) / s) + 1;
    const [oh, ow] = [size(input.height), size(input.width)];
    if (oh < 1 || ow < 1) return ctx.fail('bad_graph', `input ${describeShape(input)} is too small for a ${layer.kernel}x${layer.kernel} pool`);
    return featureMap(input.channels, oh, ow);
  },
  op({ layer, inputs: [x] }) {
    const s = layer.stride ?? layer.kernel;
    // max: padding never wins; average: PyTorch's default count_include_pad=True counts padding zeros
    if (layer.type === 'maxpool') return tf.maxPool(padded(x as tf.Tensor4D, layer.padding, -3.4e38), layer.kernel, s, 'valid');
    return tf.avgPool(padded(x as tf.Tensor4D, layer.padding, 0), layer.kernel, s, 'valid');
  },
  onnx({ layer, inputs: [x], op }) {
    const s = layer.stride ?? layer.kernel;
    const p = layer.padding;
    const attrs = { kernel_shape: [layer.kernel, layer.kernel], strides: [s, s], pads: [p, p, p, p] };
    // ONNX pads MaxPool with values that never win, and AveragePool counts padding as PyTorch does with count_include_pad
    return layer.type === 'maxpool' ? op('MaxPool', [x], attrs) : op('AveragePool', [x], { ...attrs, count_include_pad: 1 });
  },
  permute: keepSpace,
};
