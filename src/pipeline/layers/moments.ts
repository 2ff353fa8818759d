import * as tf from '@tensorflow/tfjs-core';

/** Per-feature moments of one batch, over every axis but the last (batch and positions). */
export interface ChannelStats { mean: tf.Tensor1D; variance: tf.Tensor1D; count: number }

export function channelMoments(y: tf.Tensor): ChannelStats {
  const axes = y.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(y, axes);
  const count = y.size / y.shape[y.shape.length - 1];
  return { mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D, count };
}
