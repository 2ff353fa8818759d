import { describe, it, expect } from 'vitest';
import { expectClose, net, run, seq, spaces, stateOf, useCpu } from './helpers.ts';

useCpu();

describe('globalavgpool', () => {
  it('forward: each channel\'s mean over H and W', () => {
    const g = net([2, 3, 2], [{ type: 'globalavgpool' }]);
    const x = seq(24, (i) => (i * 7) % 5 - 2);
    const want = seq(4, (k) => x.slice(6 * k, 6 * k + 6).reduce((a, b) => a + b, 0) / 6);
    const got = run(g, stateOf(g), x, 2);
    expect(got.shape).toEqual([2, 2]);
    expectClose(got.data, want);
  });

  it('shape and permutation role: [C, H, W] to [C], each channel in its space (no spreading)', () => {
    const layers = [{ type: 'conv2d', name: 'c', out: 3, kernel: 1 }, { type: 'globalavgpool' }, { type: 'linear', name: 'fc', out: 2 }];
    const g = net([1, 4, 4], layers);
    expect(g.byId.get('#1')!.shape).toEqual({ kind: 'flat', features: 3 });
    expect(g.byId.get('#1')!.params).toEqual({});
    expect(spaces(g)).toEqual([{ size: 3, axes: ['c.weight:0', 'c.bias:0', 'fc.weight:1'], nodes: ['c', '#1'] }]);
  });
});
