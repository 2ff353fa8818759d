import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { LayerKind } from '../../../src/pipeline/layers/kind.ts';
import { applyPermutations, channelRows, invertPerm } from '../../../src/pipeline/align/permute.ts';
import { weightMatching } from '../../../src/pipeline/align/weightMatching.ts';
import { mixState } from '../../../src/pipeline/model/differentiable.ts';
import { buildGraph } from '../../../src/pipeline/model/graph.ts';
import { describeAxis, inferPermutationSpec, type PermSpec } from '../../../src/pipeline/model/permspec.ts';
import { gaussian, mulberry32, randomPermutation } from '../../../src/pipeline/random.ts';
import type { FloatTensor, StateDict } from '../../../src/pipeline/model/tensor.ts';

/*
 * Spaces that share one tensor axis side by side, as a fused q/k/v weight holds them (each space's
 * block from its `offset`), and block constraints (attention heads), on hand-made specs; the
 * attention kind's own are in layers/attention.test.ts and align/blocks.test.ts.
 */
beforeAll(async () => { await tf.setBackend('cpu'); });

const n = 3;
/** `fused` [2n, 4]: rows 0..n-1 in space A, rows n..2n-1 in space B; `a2`, `b2` [2, n] read them. */
const spec: PermSpec = {
  spaces: [
    { name: 'A', size: n, nodes: [], inner: [], axes: [{ tensor: 'fused', axis: 0, repeat: 1, channelMajor: true, offset: 0 }, { tensor: 'a2', axis: 1, repeat: 1, channelMajor: true }] },
    { name: 'B', size: n, nodes: [], inner: [], axes: [{ tensor: 'fused', axis: 0, repeat: 1, channelMajor: true, offset: n }, { tensor: 'b2', axis: 1, repeat: 1, channelMajor: true }] },
  ],
  spaceOfNode: new Map(),
  blocks: [],
};
const tensor = (shape: number[], seed: number): FloatTensor => {
  const g = gaussian(mulberry32(seed));
  return { kind: 'float', dtype: 'F32', shape, data: Float32Array.from({ length: shape[0] * shape[1] }, g) };
};
const state: StateDict = new Map([['fused', tensor([2 * n, 4], 1)], ['a2', tensor([2, n], 2)], ['b2', tensor([2, n], 3)]]);
const rows = (t: FloatTensor) => Array.from({ length: t.shape[0] }, (_, i) => Array.from(t.data.slice(i * t.shape[1], (i + 1) * t.shape[1])));
const pA = Int32Array.of(2, 0, 1);
const pB = Int32Array.of(1, 2, 0);

describe('spaces side by side on one axis', () => {
  it('applyPermutations moves each space\'s block only, by its own permutation', () => {
    const out = applyPermutations(state, spec, [pA, pB]);
    const before = rows(state.get('fused') as FloatTensor);
    expect(rows(out.get('fused') as FloatTensor)).toEqual([...[...pA].map((p) => before[p]), ...[...pB].map((p) => before[n + p])]);
    const a2 = rows(state.get('a2') as FloatTensor);
    expect(rows(out.get('a2') as FloatTensor)).toEqual(a2.map((r) => [...pA].map((p) => r[p])));
  });

  it('channelRows reads a block\'s rows; mixAxis with 0/1 matrices permutes exactly as applyPermutations does', () => {
    const fused = state.get('fused') as FloatTensor;
    expect(Array.from(channelRows(fused, spec.spaces[1].axes[0], n))).toEqual(Array.from(fused.data.slice(n * 4)));
    const oneHot = (p: Int32Array) => tf.tensor2d(Array.from({ length: n * n }, (_, k) => (p[Math.floor(k / n)] === k % n ? 1 : 0)), [n, n]);
    const tensors = new Map([...state].map(([k, t]) => [k, tf.tensor((t as FloatTensor).data, t.shape)]));
    const mixed = mixState(tensors, spec, [oneHot(pA), oneHot(pB)]);
    const want = applyPermutations(state, spec, [pA, pB]);
    for (const [k, t] of mixed) expect(Array.from(t.dataSync()), k).toEqual(Array.from((want.get(k) as FloatTensor).data));
  });

  it('weight matching recovers planted permutations of both spaces', () => {
    const rand = mulberry32(9);
    const planted = [randomPermutation(n, rand), randomPermutation(n, rand)];
    const source = applyPermutations(state, spec, planted);
    const { perms } = weightMatching(spec, state, source, { seed: 0, maxIterations: 10 });
    expect(perms.map((p) => Array.from(p))).toEqual(planted.map((p) => Array.from(invertPerm(p))));
  });
});

describe('declaring them from a layer kind', () => {
  /** A stand-in for fused attention: a linear layer whose 6 output rows are two spaces of 3, tied as one block of 3 */
  const fusedKind = (base: LayerKind): LayerKind => ({
    ...base,
    permute(ctx) {
      const [qk, v] = [ctx.open(3), ctx.open(3)];
      for (const [p, offset] of [[qk, 0], [v, 3]] as const) {
        ctx.act('weight', 0, p, offset);
        ctx.act('bias', 0, p, offset);
      }
      ctx.act('weight', 1, ctx.inputs[0]);
      ctx.block({ spaces: [qk, v], groups: 1, groupSize: 3 });
      return ctx.open(6);
    },
  });
  const graph = buildGraph({ layout: 'pytorch', input: [4], layers: [{ type: 'linear', name: 'in', out: 5 }, { type: 'linear', name: 'qkv', out: 6 }, { type: 'linear', name: 'out', out: 2 }] });
  const node = graph.byId.get('qkv')!;
  node.kind = fusedKind(node.kind);

  it('inferPermutationSpec keeps each block\'s offset and resolves block constraints to space indices', () => {
    const s = inferPermutationSpec(graph);
    expect(s.spaces.map((sp) => [sp.size, sp.axes.map(describeAxis)])).toEqual([
      [5, ['in.weight:0', 'in.bias:0', 'qkv.weight:1']],
      [3, ['qkv.weight:0@0', 'qkv.bias:0@0']],
      [3, ['qkv.weight:0@3', 'qkv.bias:0@3']],
      [6, ['out.weight:1']],
    ]);
    expect(s.blocks).toEqual([{ spaces: [1, 2], groups: 1, groupSize: 3 }]);
  });
});
