import * as tf from '@tensorflow/tfjs-core';
import type { TokenPoolLayer } from '../../contracts/index.ts';
import type { LayerKind } from './kind.ts';
import { keepSpace } from './kind.ts';
import { describeShape, flat } from './shape.ts';

/** Tokens [T, D] to features [D]: the first token, or the mean of the tokens after `skip`; each feature stays in its space. */
export const tokenpool: LayerKind<TokenPoolLayer> = {
  arity: 'one',
  infer(ctx) {
    const input = ctx.inputs[0];
    if (input.kind !== 'tokens') return ctx.fail('bad_graph', `input has shape ${describeShape(input)}; token pooling needs tokens`);
    if (ctx.layer.pool === 'avg' && ctx.layer.skip >= input.tokens) return ctx.fail('bad_graph', `skips ${ctx.layer.skip} of ${input.tokens} tokens, leaving none to average`);
    return flat(input.features);
  },
  op({ layer, inputs: [x] }) {
    if (layer.pool === 'token') return tf.reshape(tf.slice(x, [0, 0, 0], [-1, 1, -1]), [x.shape[0], x.shape[2]!]);
    return tf.mean(tf.slice(x, [0, layer.skip, 0], [-1, -1, -1]), 1);
  },
  onnx({ layer, inputs: [x], inputShapes: [input], op, constant }) {
    const tokens = input.kind === 'tokens' ? input.tokens : 0;
    const [from, to] = layer.pool === 'token' ? [0, 1] : [layer.skip, tokens];
    const kept = from === 0 && to === tokens ? x : op('Slice', [x, constant([from], [1], 'int64'), constant([to], [1], 'int64'), constant([1], [1], 'int64')]);
    return op('ReduceMean', [kept], { axes: [1], keepdims: 0 });
  },
  permute: keepSpace,
};
