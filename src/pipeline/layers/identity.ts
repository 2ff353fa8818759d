import * as tf from '@tensorflow/tfjs-core';
import type { IdentityLayer } from '../../contracts/index.ts';
import type { LayerKind } from './kind.ts';
import { keepShape, keepSpace } from './kind.ts';

/** A named point in the graph (a module kept for its name); computes nothing. */
export const identity: LayerKind<IdentityLayer> = {
  arity: 'one',
  infer: keepShape,
  // a copy: the interpreter frees each node's output on its own schedule
  op: ({ inputs: [x] }) => tf.clone(x),
  onnx: ({ inputs: [x], op }) => op('Identity', [x]),
  permute: keepSpace,
};
