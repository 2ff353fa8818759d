import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../io/datasets.ts';
import { forward, loadModel } from '../model/forward.ts';
import type { ModelGraph } from '../model/graph.ts';
import { assignUnit, permutationUnits } from './blocks.ts';
import { readTensors } from '../runtime/linalg.ts';
import { forEachBatch } from '../model/passes.ts';
import type { Perm } from './permute.ts';
import type { PermSpec } from '../model/permspec.ts';
import { CrossCorrelation } from '../stats.ts';
import type { StateDict } from '../model/tensor.ts';
import { taps } from '../model/wrappers.ts';

/** An activation that represents a space: a node's output, or an inner activation of its op (`key`). */
export interface ActivationTap { node: string; key?: string }

const tapId = (t: ActivationTap) => (t.key === undefined ? t.node : `${t.node}:${t.key}`);

/**
 * Which activations represent each space: the outputs of its 'nonlinearity' kinds (relu, gelu),
 * which for a residual stream are the block outputs; failing those, of its 'join' kinds (the adds:
 * a transformer's stream after each residual add, over all tokens); failing those, the inner
 * activations ops show for it (attention's q and k for the q/k space, v for the v space); failing
 * those, its last node.
 */
export function activationTaps(graph: ModelGraph, spec: PermSpec): ActivationTap[][] {
  return spec.spaces.map((space) => {
    const tapping = (tap: 'nonlinearity' | 'join') => space.nodes.filter((id) => graph.byId.get(id)!.kind.tap === tap);
    const act = tapping('nonlinearity');
    if (act.length) return act.map((node) => ({ node }));
    const joins = tapping('join');
    if (joins.length) return joins.map((node) => ({ node }));
    if (space.inner.length) return space.inner;
    return space.nodes.slice(-1).map((node) => ({ node }));
  });
}

/**
 * Activation matching: per space, the summed Pearson correlation between the target's and the
 * source's channel activations on calibration data (conv maps over N*H*W, tokens over N*T); then
 * per unit the assignment maximising it (block-tied spaces, attention's heads, solved together).
 */
export function activationMatching(graph: ModelGraph, spec: PermSpec, target: StateDict, source: StateDict, data: Dataset, batchSize: number, signal?: AbortSignal): { perms: Perm[]; iterations: number } {
  const tapsOfSpace = activationTaps(graph, spec);
  const all = new Map(tapsOfSpace.flat().map((t) => [tapId(t), t]));
  const acc = new Map<string, CrossCorrelation>();
  const nodeTaps = new Set<string>();
  const innerTaps = new Map<string, Set<string>>();
  for (const t of all.values()) {
    if (t.key === undefined) nodeTaps.add(t.node);
    else innerTaps.set(t.node, (innerTaps.get(t.node) ?? new Set()).add(t.key));
  }
  const a = loadModel(graph, target);
  const b = loadModel(graph, source);
  try {
    forEachBatch(graph, data, batchSize, (x) => {
      const kept = new Map<string, tf.Tensor2D>();
      // features last, every position a row
      const keep = (id: string, y: tf.Tensor) => kept.set(id, tf.keep(tf.reshape(y, [-1, y.shape[y.rank - 1]!])) as tf.Tensor2D);
      const wrap = taps(nodeTaps, (node, y) => keep(node.id, y));
      const inner = new Map([...innerTaps].map(([node, keys]) => [node, (key: string, y: tf.Tensor) => { if (keys.has(key)) keep(`${node}:${key}`, y); }]));
      forward(a, x, { wrap, inner }).dispose();
      const fromA = new Map(kept);
      kept.clear();
      forward(b, x, { wrap, inner }).dispose();
      for (const id of all.keys()) {
        const ya = fromA.get(id)!;
        const yb = kept.get(id)!;
        const sums = readTensors(() => [tf.sum(ya, 0), tf.sum(yb, 0), tf.sum(tf.square(ya), 0), tf.sum(tf.square(yb), 0), tf.matMul(ya, yb, true, false)]);
        if (!acc.has(id)) acc.set(id, new CrossCorrelation(ya.shape[1]));
        acc.get(id)!.addBatch(ya.shape[0], sums[0], sums[1], sums[2], sums[3], sums[4]);
        ya.dispose();
        yb.dispose();
      }
    }, signal);
  } finally {
    a.dispose();
    b.dispose();
  }
  const correlation = spec.spaces.map((space, s) => {
    const n = space.size;
    const total = new Float64Array(n * n);
    for (const t of tapsOfSpace[s]) {
      const corr = acc.get(tapId(t))!.correlation();
      for (let k = 0; k < total.length; k++) total[k] += corr[k];
    }
    return total;
  });
  const perms: Perm[] = new Array(spec.spaces.length);
  for (const unit of permutationUnits(spec)) {
    const solved = assignUnit(unit, unit.spaces.map((s) => correlation[s]));
    unit.spaces.forEach((s, m) => { perms[s] = solved[m]; });
  }
  return { perms, iterations: 1 };
}
