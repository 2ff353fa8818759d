import * as tf from '@tensorflow/tfjs-core';
import type { LinearLayer } from '../../contracts/index.ts';
import { affinePermute, affineRepair, declareAffine, outputCount, type WeightAxes } from './affine.ts';
import type { LayerKind } from './kind.ts';
import { describeShape, flat } from './shape.ts';

/** PyTorch Linear [out, in]; tfjs Dense [in, out], which is the engine's order. */
const axes: WeightAxes = (layout) => (layout === 'pytorch' ? { out: 0, in: 1 } : { out: 1, in: 0 });

export const linear: LayerKind<LinearLayer> = {
  arity: 'one',
  infer(ctx) {
    const input = ctx.inputs[0];
    if (input.kind !== 'flat') return ctx.fail('bad_graph', `input has shape ${describeShape(input)}; a linear layer needs a flat input (add a flatten layer)`);
    const out = outputCount(ctx, axes(ctx.layout).out);
    const pytorch = ctx.layout === 'pytorch';
    declareAffine(ctx, pytorch ? [out, input.features] : [input.features, out], out, pytorch ? [1, 0] : undefined);
    return flat(out);
  },
  op({ inputs: [x], param, has }) {
    const y = tf.matMul(x as tf.Tensor2D, param('weight') as tf.Tensor2D);
    return has('bias') ? tf.add(y, param('bias')) : y;
  },
  // Gemm takes PyTorch's [out, in] weight as it is (transB) and tfjs's [in, out] directly
  onnx: ({ layout, inputs: [x], param, has, op }) => op('Gemm', has('bias') ? [x, param('weight'), param('bias')] : [x, param('weight')], { transB: layout === 'pytorch' ? 1 : 0 }),
  permute: affinePermute(axes),
  repair: affineRepair(axes),
};
