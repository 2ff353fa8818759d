import * as tf from '@tensorflow/tfjs-core';
import type { LinearLayer } from '../../contracts/index.ts';
import { affinePermute, affineRepair, declareAffine, onnxDense, outputCount, type WeightAxes } from './affine.ts';
import type { LayerKind } from './kind.ts';
import { describeShape, featuresOf, flat } from './shape.ts';

/** PyTorch Linear [out, in]; tfjs Dense [in, out], which is the engine's order. On flat features or on every token. */
const axes: WeightAxes = (layout) => (layout === 'pytorch' ? { out: 0, in: 1 } : { out: 1, in: 0 });

export const linear: LayerKind<LinearLayer> = {
  arity: 'one',
  infer(ctx) {
    const input = ctx.inputs[0];
    if (input.kind === 'map') return ctx.fail('bad_graph', `input has shape ${describeShape(input)}; a linear layer needs flat features or tokens (add a flatten layer)`);
    const out = outputCount(ctx, axes(ctx.layout).out);
    const pytorch = ctx.layout === 'pytorch';
    declareAffine(ctx, pytorch ? [out, input.features] : [input.features, out], out, pytorch ? [1, 0] : undefined);
    // on tokens, the same map applied to every token
    return input.kind === 'tokens' ? { kind: 'tokens', tokens: input.tokens, features: out } : flat(out);
  },
  op({ inputs: [x], param, has }) {
    const w = param('weight') as tf.Tensor2D;
    const rows = x.rank === 3 ? tf.reshape(x, [-1, x.shape[2]!]) : x;
    const y2 = tf.matMul(rows as tf.Tensor2D, w);
    const y = x.rank === 3 ? tf.reshape(y2, [x.shape[0], x.shape[1]!, w.shape[1]]) : y2;
    return has('bias') ? tf.add(y, param('bias')) : y;
  },
  onnx: (ctx) => onnxDense(ctx, ctx.inputs[0], ctx.inputShapes[0], featuresOf(ctx.shape), 'weight', 'bias'),
  permute: affinePermute(axes),
  repair: affineRepair(axes),
};
