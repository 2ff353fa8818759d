import * as tf from '@tensorflow/tfjs-core';
import type { FlattenLayer } from '../../contracts/index.ts';
import type { LayerKind } from './kind.ts';
import { flat, positionsOf, sizeOf } from './shape.ts';

/**
 * Flatten to [C*H*W] in the layout's order: PyTorch's NCHW (channel-major, so the engine's NHWC map
 * is transposed first and the next linear layer sees PyTorch's feature order) or tfjs's NHWC
 * (channel-minor). Each channel then spreads over its H*W entries of the flat axis.
 */
export const flatten: LayerKind<FlattenLayer> = {
  arity: 'one',
  infer: (ctx) => flat(sizeOf(ctx.inputs[0])),
  op({ layout, inputs: [x] }) {
    const n = x.shape[0];
    if (x.rank === 4 && layout === 'pytorch') return tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n, -1]);
    return tf.reshape(x, [n, -1]);
  },
  onnx({ layout, inputs: [x], inputShapes: [shape], op }) {
    // channels-first maps flatten in PyTorch's order as they are; tfjs's order is channels last
    const source = shape.kind === 'map' && layout === 'tfjs' ? op('Transpose', [x], { perm: [0, 2, 3, 1] }) : x;
    return op('Flatten', [source], { axis: 1 });
  },
  permute({ layout, inputs: [p], inputShapes: [shape] }) {
    const repeat = p.repeat * positionsOf(shape);
    return { space: p.space, repeat, channelMajor: layout === 'pytorch' || repeat === 1 };
  },
};
