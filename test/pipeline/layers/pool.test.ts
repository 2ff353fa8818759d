import { describe, it, expect } from 'vitest';
import { expectClose, net, run, seq, spaces, stateOf, useCpu } from './helpers.ts';

useCpu();

/** PyTorch's 2-D pooling of one [H, W] channel by its definition: padding never wins a max and counts as 0 in an average. */
function pool2d(x: number[][], k: number, s: number, p: number, kind: 'max' | 'avg'): number[][] {
  const [h, w] = [x.length, x[0].length];
  const out = (n: number) => Math.floor((n + 2 * p - k) / s) + 1;
  return seq(out(h)).map((r) => seq(out(w)).map((c) => {
    const vals: number[] = [];
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) {
      const [rr, cc] = [r * s + i - p, c * s + j - p];
      const inside = rr >= 0 && rr < h && cc >= 0 && cc < w;
      if (inside) vals.push(x[rr][cc]);
      else if (kind === 'avg') vals.push(0);
    }
    return kind === 'max' ? Math.max(...vals) : vals.reduce((a, b) => a + b, 0) / (k * k);
  }));
}

describe('maxpool and avgpool', () => {
  // negative values everywhere near the border: a zero-padded max would be wrong
  const x = seq(2 * 5 * 5, (i) => -1 - ((i * 13) % 7));
  const channel = (c: number) => seq(5).map((r) => x.slice(c * 25 + r * 5, c * 25 + r * 5 + 5));

  for (const [type, kind] of [['maxpool', 'max'], ['avgpool', 'avg']] as const) {
    it(`${type} forward: kernel 3, stride 2, padding 1, and the default kernel 2 stride 2`, () => {
      for (const conf of [{ kernel: 3, stride: 2, padding: 1 }, {}]) {
        const g = net([2, 5, 5], [{ type, ...conf }, { type: 'flatten' }]);
        const [k, s, p] = [conf.kernel ?? 2, conf.stride ?? conf.kernel ?? 2, conf.padding ?? 0];
        expectClose(run(g, stateOf(g), x, 1).data, [0, 1].flatMap((c) => pool2d(channel(c), k, s, p, kind).flat()));
      }
    });
  }

  it('shape and permutation role: per-channel, so the space passes through', () => {
    const layers = [{ type: 'conv2d', name: 'c', out: 3, kernel: 1 }, { type: 'maxpool', kernel: 3, stride: 2, padding: 1 }, { type: 'flatten' }, { type: 'linear', name: 'fc', out: 2 }];
    const g = net([1, 7, 6], layers);
    expect(g.byId.get('#1')!.shape).toEqual({ kind: 'map', channels: 3, height: 4, width: 3 });
    expect(spaces(g)).toEqual([{ size: 3, axes: ['c.weight:0', 'c.bias:0', 'fc.weight:1 x12'], nodes: ['c', '#1'] }]);
  });
});
