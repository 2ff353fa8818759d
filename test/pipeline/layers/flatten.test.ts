import { describe, it, expect } from 'vitest';
import { expectClose, net, run, seq, spaces, stateOf, useCpu } from './helpers.ts';

useCpu();

describe('flatten', () => {
  const x = seq(2 * 3 * 2 * 2, (i) => i); // one sample [3, 2, 2] as NCHW and another

  it('forward: PyTorch\'s channel-major C*H*W order; tfjs\'s H*W*C order', () => {
    const pt = net([3, 2, 2], [{ type: 'flatten' }]);
    const got = run(pt, stateOf(pt), x, 2);
    expect(got.shape).toEqual([2, 12]);
    expectClose(got.data, x, 0);
    const tfjs = net([2, 2, 3], [{ type: 'flatten' }], 'tfjs');
    expectClose(run(tfjs, stateOf(tfjs), x, 2).data, x, 0);
    // the engine holds maps NHWC: PyTorch's order comes from a transpose, seen after a 1x1 conv that swaps channels
    const swap = net([3, 2, 2], [{ type: 'conv2d', name: 'c', out: 3, kernel: 1, bias: false }, { type: 'flatten' }]);
    const w = [0, 0, 1, 0, 1, 0, 1, 0, 0];
    const swapped = seq(24, (i) => { const [n, c, k] = [Math.floor(i / 12), Math.floor(i / 4) % 3, i % 4]; return x[n * 12 + (2 - c) * 4 + k]; });
    expectClose(run(swap, stateOf(swap, { 'c.weight': w }), x, 2).data, swapped, 0);
  });

  it('shape: a map becomes C*H*W flat features; flat features stay as they are', () => {
    expect(net([3, 2, 2], [{ type: 'flatten' }]).byId.get('#0')!.shape).toEqual({ kind: 'flat', features: 12 });
    expect(net([5], [{ type: 'flatten' }]).byId.get('#0')!.shape).toEqual({ kind: 'flat', features: 5 });
  });

  it('permutation role: spreads each channel over its H*W entries, channel-major (PyTorch) or channel-minor (tfjs); not a tap or site', () => {
    const layers = [{ type: 'conv2d', name: 'c', out: 3, kernel: 1 }, { type: 'flatten' }, { type: 'linear', name: 'fc', out: 2 }];
    expect(spaces(net([1, 2, 2], layers))).toEqual([{ size: 3, axes: ['c.weight:0', 'c.bias:0', 'fc.weight:1 x4'], nodes: ['c'] }]);
    expect(spaces(net([2, 2, 1], layers, 'tfjs'))).toEqual([{ size: 3, axes: ['c/kernel:3', 'c/bias:0', 'fc/kernel:0 x4 minor'], nodes: ['c'] }]);
    // a 1x1 map flattens to its channels alone: nothing to spread
    expect(spaces(net([1, 1, 1], layers, 'tfjs'))[0].axes).toEqual(['c/kernel:3', 'c/bias:0', 'fc/kernel:0']);
  });
});
