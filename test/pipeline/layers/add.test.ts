import { describe, it, expect } from 'vitest';
import { add } from '../../../src/pipeline/layers/add.ts';
import { expectClose, net, run, spaces, stateOf, useCpu } from './helpers.ts';

useCpu();

describe('add', () => {
  const layers = [
    { type: 'linear', name: 'a', out: 3 },
    { type: 'linear', name: 'b', out: 3, inputs: ['input'] },
    { type: 'linear', name: 'c', out: 3, inputs: ['input'] },
    { type: 'add', id: 'sum', inputs: ['a', 'b', 'c'] },
    { type: 'relu' },
    { type: 'linear', name: 'head', out: 2 },
  ];
  const g = net([2], layers);

  it('forward: the sum of its inputs', () => {
    const s = stateOf(g, { 'a.weight': [1, 0, 0, 1, 1, 1], 'a.bias': [0, 0, 0], 'b.weight': [2, 0, 0, 2, 0, 0], 'b.bias': [1, 1, 1], 'c.weight': [0, 0, 0, 0, -1, -1], 'c.bias': [0, 0, 0.5] });
    const x = [3, -1];
    // a: [3, -1, 2]; b: [7, -1, 1]; c: [0, 0, -1.5]
    expectClose(run(g, s, x, 1, { until: 'sum' }).data, [10, -2, 1.5]);
  });

  it('permutation role: one space for all its inputs (a residual stream); its outputs are taps where no nonlinearity is', () => {
    expect(spaces(g)).toEqual([{
      size: 3,
      axes: ['a.weight:0', 'a.bias:0', 'b.weight:0', 'b.bias:0', 'c.weight:0', 'c.bias:0', 'head.weight:1'],
      nodes: ['a', 'b', 'c', 'sum', '#4'],
    }]);
    expect(add.tap).toBe('join');
    expect(g.byId.get('sum')!.params).toEqual({});
  });
});
