import * as tf from '@tensorflow/tfjs-core';
import type { ClsTokenLayer } from '../../contracts/index.ts';
import type { LayerKind } from './kind.ts';
import { describeShape } from './shape.ts';

/**
 * Learned tokens put before the sequence ([1, count, D], the tensor named by the layer itself). The
 * tokens' features live in the stream's space: its permutation acts on their last axis.
 */
export const clstoken: LayerKind<ClsTokenLayer> = {
  arity: 'one',
  infer(ctx) {
    const input = ctx.inputs[0];
    if (input.kind !== 'tokens') return ctx.fail('bad_graph', `input has shape ${describeShape(input)}; class tokens go before a token sequence`);
    const found = ctx.checkpointShape('');
    const count = found?.[1] ?? ctx.layer.count ?? 1;
    if (ctx.layer.count !== undefined && ctx.layer.count !== count) return ctx.fail('shape_mismatch', `tensor "${ctx.tensorName('')}" holds ${count} tokens, the architecture says ${ctx.layer.count}`);
    // timm starts its class token at (nearly) zero
    ctx.param('token', { suffix: '', shape: [1, count, input.features], init: { fill: 0 } });
    return { kind: 'tokens', tokens: input.tokens + count, features: input.features };
  },
  op({ inputs: [x], param }) {
    const token = param('token');
    // broadcast over the batch by an add (Tile, the obvious op, is slow on wasm)
    const batch = tf.add(tf.zeros([x.shape[0], token.shape[1]!, token.shape[2]!]), token);
    return tf.concat([batch, x], 1);
  },
  onnx({ inputs: [x], param, paramShape, op, constant }) {
    const [, count, d] = paramShape('token');
    // [1, count, D] expanded to the batch: the batch size from x's shape, the rest known
    const batch = op('Slice', [op('Shape', [x]), constant([0], [1], 'int64'), constant([1], [1], 'int64')]);
    const dims = op('Concat', [batch, constant([count, d], [2], 'int64')], { axis: 0 });
    return op('Concat', [op('Expand', [param('token'), dims]), x], { axis: 1 });
  },
  permute(ctx) {
    ctx.act('token', 2, ctx.inputs[0]);
    return ctx.inputs[0];
  },
};
