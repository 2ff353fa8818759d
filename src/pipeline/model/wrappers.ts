import type * as tf from '@tensorflow/tfjs-core';
import { channelMoments, type ChannelStats } from '../layers/moments.ts';
import type { NodeWrapper } from './forward.ts';
import type { GraphNode, ModelGraph } from './graph.ts';

/**
 * The forward-pass wrappers more than one part uses. Correction-specific ones live with their
 * method (correct/repair.ts).
 */

/** Show each listed node's output to `tap` (activation statistics, activation matching), unchanged. */
export function taps(ids: Iterable<string>, tap: (node: GraphNode, y: tf.Tensor) => void): Map<string, NodeWrapper> {
  const wrapper: NodeWrapper = ({ node, run }) => {
    const y = run();
    tap(node, y);
    return y;
  };
  return new Map([...ids].map((id) => [id, wrapper]));
}

/**
 * Train mode for every kind with running statistics (BatchNorm): each normalises with its batch's
 * statistics, which `onStats` receives (RESET measures them; training updates running averages).
 */
export function batchStatistics(graph: ModelGraph, onStats: (node: GraphNode, stats: ChannelStats) => void): Map<string, NodeWrapper> {
  const wrap = new Map<string, NodeWrapper>();
  for (const node of graph.nodes) {
    const running = node.kind.runningStats;
    if (!running) continue;
    wrap.set(node.id, (call) => {
      const stats = channelMoments(call.inputs[0]);
      onStats(node, stats);
      return running.withBatchStats(call, stats);
    });
  }
  return wrap;
}
