import * as tf from '@tensorflow/tfjs-core';
import type { GlobalAvgPoolLayer } from '../../contracts/index.ts';
import type { LayerKind } from './kind.ts';
import { keepSpace, mapInput } from './kind.ts';
import { flat } from './shape.ts';

/** The mean over H and W of a feature map: [C, H, W] to [C], each channel where it was. */
export const globalavgpool: LayerKind<GlobalAvgPoolLayer> = {
  arity: 'one',
  infer: (ctx) => flat(mapInput(ctx).channels),
  op: ({ inputs: [x] }) => tf.mean(x, [1, 2]),
  onnx: ({ inputs: [x], op }) => op('ReduceMean', [x], { axes: [2, 3], keepdims: 0 }),
  permute: keepSpace,
};
