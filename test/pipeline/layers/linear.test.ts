import { describe, it, expect } from 'vitest';
import { linear } from '../../../src/pipeline/layers/linear.ts';
import { buildGraph } from '../../../src/pipeline/model/graph.ts';
import type { FloatTensor } from '../../../src/pipeline/model/tensor.ts';
import { expectClose, expectKaimingUniform, net, run, spaces, stateOf, useCpu } from './helpers.ts';

useCpu();

const W = [[1, 2, 3], [-1, 0, 0.5]];
const b = [0.1, -0.2];
const x = [[1, 0, -1], [2, 1, 0]];
/** y = W x + b, by hand */
const want = (bias: boolean) => x.flatMap((xs) => W.map((row, j) => row.reduce((s, w, i) => s + w * xs[i], bias ? b[j] : 0)));

describe('linear', () => {
  it('forward: W x + b, from PyTorch [out, in] and from tfjs [in, out] weights', () => {
    const pt = net([3], [{ type: 'linear', name: 'fc', out: 2 }]);
    expectClose(run(pt, stateOf(pt, { 'fc.weight': W.flat(), 'fc.bias': b }), x.flat(), 2).data, want(true));
    const tfjs = net([3], [{ type: 'linear', name: 'fc', out: 2 }], 'tfjs');
    expectClose(run(tfjs, stateOf(tfjs, { 'fc/kernel': [0, 1, 2].flatMap((i) => W.map((row) => row[i])), 'fc/bias': b }), x.flat(), 2).data, want(true));
    const noBias = net([3], [{ type: 'linear', name: 'fc', out: 2, bias: false }]);
    expect([...noBias.expected.keys()]).toEqual(['fc.weight']);
    expectClose(run(noBias, stateOf(noBias, { 'fc.weight': W.flat() }), x.flat(), 2).data, want(false));
  });

  it('shape inference: outputs from the checkpoint (or the out hint), parameters in the layout\'s shape', () => {
    const g = buildGraph({ layout: 'tfjs', input: [3], layers: [{ type: 'linear', name: 'fc' }] }, new Map([['fc/kernel', { shape: [3, 5], kind: 'float' }], ['fc/bias', { shape: [5], kind: 'float' }]]));
    expect(g.byId.get('fc')!.shape).toEqual({ kind: 'flat', features: 5 });
    expect(g.byId.get('fc')!.params.weight).toMatchObject({ tensor: 'fc/kernel', shape: [3, 5], toEngine: undefined });
    const pt = net([3], [{ type: 'linear', name: 'fc', out: 5 }]);
    expect(pt.byId.get('fc')!.params.weight).toMatchObject({ tensor: 'fc.weight', shape: [5, 3], toEngine: [1, 0] });
  });

  it('permutation role: opens a space on its outputs (weight rows, bias); its inputs are permuted by its input\'s space', () => {
    const layers = [{ type: 'linear', name: 'fc1', out: 5 }, { type: 'relu' }, { type: 'linear', name: 'fc2', out: 3 }];
    expect(spaces(net([4], layers))).toEqual([{ size: 5, axes: ['fc1.weight:0', 'fc1.bias:0', 'fc2.weight:1'], nodes: ['fc1', '#1'] }]);
    expect(spaces(net([4], layers, 'tfjs'))).toEqual([{ size: 5, axes: ['fc1/kernel:1', 'fc1/bias:0', 'fc2/kernel:0'], nodes: ['fc1', '#1'] }]);
    expect(linear.repair?.nets).toBe('plain');
    expect(linear.repair?.fold('pytorch')).toEqual({ scale: { role: 'weight', axis: 0 }, shift: 'bias' });
    expect(linear.repair?.fold('tfjs')).toEqual({ scale: { role: 'weight', axis: 1 }, shift: 'bias' });
  });

  it('init: PyTorch\'s Kaiming-uniform weights and biases, bound 1/sqrt(in)', () => {
    const g = net([400], [{ type: 'linear', name: 'fc', out: 300 }]);
    const state = stateOf(g, {}, 7);
    expectKaimingUniform(state.get('fc.weight') as FloatTensor, 400);
    const bias = (state.get('fc.bias') as FloatTensor).data;
    expect(Math.max(...bias.map(Math.abs))).toBeLessThanOrEqual(1 / 20);
    expect(Math.max(...bias.map(Math.abs))).toBeGreaterThan(0.9 / 20);
  });
});
