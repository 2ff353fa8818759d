import * as tf from '@tensorflow/tfjs-core';
import type { AddLayer } from '../../contracts/index.ts';
import type { LayerKind } from './kind.ts';
import { describeShape, sameShape } from './shape.ts';

/** The sum of its inputs (a residual connection): one shape, and one permutation space for all of them. */
export const add: LayerKind<AddLayer> = {
  arity: 'many',
  infer(ctx) {
    const [first] = ctx.inputs;
    if (!ctx.inputs.every((s) => sameShape(s, first))) return ctx.fail('bad_graph', `inputs have shapes ${ctx.inputs.map(describeShape).join(' and ')}`);
    return first;
  },
  op: ({ inputs }) => tf.addN(inputs),
  onnx: ({ inputs, op }) => op('Sum', inputs),
  permute(ctx) {
    const [first, ...rest] = ctx.inputs;
    for (const other of rest) ctx.unite(other, first);
    return first;
  },
  tap: 'join',
};
