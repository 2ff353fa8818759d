import { describe, it, expect } from 'vitest';
import { layernorm } from '../../../src/pipeline/layers/layernorm.ts';
import type { FloatTensor } from '../../../src/pipeline/model/tensor.ts';
import { expectClose, net, run, seq, spaces, stateOf, useCpu } from './helpers.ts';

useCpu();

/** (v - mean(v)) / sqrt(var(v) + eps) over one sample's values */
function standardise(v: number[], eps: number): number[] {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  const s = v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length;
  return v.map((u) => (u - m) / Math.sqrt(s + eps));
}

describe('layernorm', () => {
  it('forward on flat features: each sample standardised over its features, then scale and shift', () => {
    const g = net([3], [{ type: 'layernorm', name: 'ln', eps: 1e-2 }]);
    const x = [1, 2, 4, -3, 0, 0.5];
    const [scale, shift] = [[1, 2, -1], [0, 0.5, 1]];
    const want = [0, 1].flatMap((n) => standardise(x.slice(3 * n, 3 * n + 3), 1e-2).map((v, c) => v * scale[c] + shift[c]));
    expectClose(run(g, stateOf(g, { 'ln.weight': scale, 'ln.bias': shift }), x, 2).data, want);
  });

  it('forward on a feature map: standardised over C, H and W together (GroupNorm(1, C)), affine per channel', () => {
    const g = net([2, 2, 3], [{ type: 'layernorm', name: 'ln' }, { type: 'flatten' }]);
    const x = seq(24, (i) => Math.cos(i) * (i % 7));
    const [scale, shift] = [[3, -0.5], [1, 2]];
    const want = [0, 1].flatMap((n) => standardise(x.slice(12 * n, 12 * n + 12), 1e-5).map((v, i) => v * scale[Math.floor(i / 6)] + shift[Math.floor(i / 6)]));
    expectClose(run(g, stateOf(g, { 'ln.weight': scale, 'ln.bias': shift }), x, 2).data, want, 1e-4);
  });

  it('permutation role and parameters: its input\'s space permutes scale and shift; not a REPAIR site, no running statistics', () => {
    const layers = [{ type: 'linear', name: 'fc1', out: 3 }, { type: 'layernorm', name: 'ln' }, { type: 'gelu' }, { type: 'linear', name: 'fc2', out: 2 }];
    expect(spaces(net([4], layers))).toEqual([{ size: 3, axes: ['fc1.weight:0', 'fc1.bias:0', 'ln.weight:0', 'ln.bias:0', 'fc2.weight:1'], nodes: ['fc1', 'ln', '#2'] }]);
    expect([...net([4], layers, 'tfjs').expected.keys()]).toContain('ln/gamma');
    expect(layernorm.repair).toBeUndefined();
    expect(layernorm.runningStats).toBeUndefined();
    expect(net([4], layers).hasBatchNorm).toBe(false);
  });

  it('init: scale 1, shift 0', () => {
    const g = net([3], [{ type: 'layernorm', name: 'ln' }]);
    const s = stateOf(g);
    expect([...(s.get('ln.weight') as FloatTensor).data, ...(s.get('ln.bias') as FloatTensor).data]).toEqual([1, 1, 1, 0, 0, 0]);
  });
});
