import * as tf from '@tensorflow/tfjs-core';
import type { BatchNormLayer } from '../../contracts/index.ts';
import type { LayerKind } from './kind.ts';
import { keepShape } from './kind.ts';
import { declareNormAffine, perChannel } from './norm.ts';

const STATS_NAMES = {
  pytorch: { mean: 'running_mean', var: 'running_var' },
  tfjs: { mean: 'moving_mean', var: 'moving_variance' },
} as const;

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
  permute: perChannel(['scale', 'shift', 'mean', 'var']),
  repair: { nets: 'batchnorm', fold: () => ({ scale: { role: 'scale', axis: 0 }, shift: 'shift' }) },
  runningStats: {
    mean: 'mean',
    variance: 'var',
    withBatchStats({ layer, inputs: [x], param }, stats) {
      // primitive ops rather than tf.batchNorm: its gradient uses Tile, which is slow on wasm
      return tf.add(tf.mul(tf.mul(tf.sub(x, stats.mean), tf.rsqrt(tf.add(stats.variance, layer.eps))), param('scale')), param('shift'));
    },
  },
};
