import * as tf from '@tensorflow/tfjs-core';
import type { BatchNormLayer } from '../../contracts/index.ts';
import type { LayerKind, OnnxContext } from './kind.ts';
import { keepShape } from './kind.ts';
import { declareNormAffine, perChannel } from './norm.ts';

const STATS_NAMES = {
  pytorch: { mean: 'running_mean', var: 'running_var' },
  tfjs: { mean: 'moving_mean', var: 'moving_variance' },
} as const;

/**
 * (x - mean) * g + shift with g = scale / sqrt(var + eps): the per-channel factors first, on [C]
 * vectors, then two passes over x. `broadcastable`: mean and var are already shaped to x (batch
 * statistics kept with their reduced axes).
 */
function normalizeOnnx({ layer, inputs: [x], inputShapes: [shape], param, op, perChannel, constant }: OnnxContext<BatchNormLayer>, mean: string, variance: string, broadcastable = false): string {
  const along = (v: string) => (broadcastable ? v : perChannel(v, shape));
  const inv = op('Div', [constant([1]), op('Sqrt', [op('Add', [variance, constant([layer.eps])])])]);
  const g = op('Mul', [along(inv), perChannel(param('scale'), shape)]);
  return op('Add', [op('Mul', [op('Sub', [x, along(mean)]), g]), perChannel(param('shift'), shape)]);
}

/**
 * BatchNorm over the feature axis, in inference mode with its running statistics. RESET
 * re-estimates those (`runningStats`); in nets that have it, its outputs are REPAIR's sites.
 */
export const batchnorm: LayerKind<BatchNormLayer> = {
  arity: 'one',
  infer(ctx) {
    const c = declareNormAffine(ctx);
    const names = STATS_NAMES[ctx.layout];
    ctx.param('mean', { suffix: names.mean, shape: [c], init: { fill: 0 }, buffer: 'statistic' });
    ctx.param('var', { suffix: names.var, shape: [c], init: { fill: 1 }, buffer: 'statistic' });
    // PyTorch's step counter; tfjs keeps none
    if (ctx.layout === 'pytorch') ctx.param('count', { suffix: 'num_batches_tracked', shape: [], init: { fill: 0 }, buffer: 'counter', optional: true });
    return keepShape(ctx);
  },
  op({ layer, inputs: [x], param }) {
    return tf.batchNorm(x, param('mean'), param('var'), param('shift'), param('scale'), layer.eps);
  },
  onnx: (ctx) => normalizeOnnx(ctx, ctx.param('mean'), ctx.param('var')),
  permute: perChannel(['scale', 'shift', 'mean', 'var']),
  repair: { nets: 'batchnorm', fold: () => ({ scale: { role: 'scale', axis: 0 }, shift: 'shift' }) },
  runningStats: {
    mean: 'mean',
    variance: 'var',
    withBatchStats({ layer, inputs: [x], param }, stats) {
      // primitive ops rather than tf.batchNorm: its gradient uses Tile, which is slow on wasm
      return tf.add(tf.mul(tf.mul(tf.sub(x, stats.mean), tf.rsqrt(tf.add(stats.variance, layer.eps))), param('scale')), param('shift'));
    },
    onnxWithBatchStats: (ctx, stats) => normalizeOnnx(ctx, stats.mean, stats.variance, true),
  },
};
