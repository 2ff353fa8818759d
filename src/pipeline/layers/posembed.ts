import * as tf from '@tensorflow/tfjs-core';
import type { PosEmbedLayer } from '../../contracts/index.ts';
import type { LayerKind } from './kind.ts';
import { describeShape } from './shape.ts';

/** timm's pos_embed starts as a normal of std 0.02: uniform with the same spread. */
const INIT_BOUND = 0.02 * Math.sqrt(3);

/** A learned position embedding ([1, tokens, D], the tensor named by the layer) added to its input; features in the stream's space. */
export const posembed: LayerKind<PosEmbedLayer> = {
  arity: 'one',
  infer(ctx) {
    const input = ctx.inputs[0];
    if (input.kind !== 'tokens') return ctx.fail('bad_graph', `input has shape ${describeShape(input)}; a position embedding needs tokens`);
    ctx.param('embedding', { suffix: '', shape: [1, input.tokens, input.features], init: { uniform: INIT_BOUND } });
    return input;
  },
  op: ({ inputs: [x], param }) => tf.add(x, param('embedding')),
  onnx: ({ inputs: [x], param, op }) => op('Add', [x, param('embedding')]),
  permute(ctx) {
    ctx.act('embedding', 2, ctx.inputs[0]);
    return ctx.inputs[0];
  },
};
