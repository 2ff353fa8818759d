import { describe, it, expect } from 'vitest';
import { patchembed } from '../../../src/pipeline/layers/patchembed.ts';
import { buildGraph } from '../../../src/pipeline/model/graph.ts';
import { expectClose, run, seq, spaces, stateOf, useCpu } from './helpers.ts';

useCpu();

// a [2, 4, 6] image cut into 2x2 patches: 2 x 3 = 6 tokens of 3 features
const [C, Hh, W, P, D] = [2, 4, 6, 2, 3];
const graph = (layout: 'pytorch' | 'tfjs' = 'pytorch') => buildGraph({
  layout, input: layout === 'pytorch' ? [C, Hh, W] : [Hh, W, C],
  layers: [{ type: 'patchembed', name: 'pe', patch: P, out: D }, { type: 'tokenpool', pool: 'avg' }],
});
const x = seq(2 * C * Hh * W, (i) => Math.sin(i) * 2);
const w = seq(D * C * P * P, (i) => Math.cos(3 * i));
const b = [0.5, -1, 2];

/** token (r, c) of sample n: sum over channel and the patch's pixels of w[d, ch, i, j] x[n, ch, r P + i, c P + j], plus b[d] */
const want = [0, 1].flatMap((n) => seq((Hh / P) * (W / P)).flatMap((tok) => {
  const [r, c] = [Math.floor(tok / (W / P)), tok % (W / P)];
  return seq(D).map((d) => {
    let sum = b[d];
    for (let ch = 0; ch < C; ch++) for (let i = 0; i < P; i++) for (let j = 0; j < P; j++) {
      sum += w[((d * C + ch) * P + i) * P + j] * x[((n * C + ch) * Hh + r * P + i) * W + c * P + j];
    }
    return sum;
  });
}));

describe('patchembed', () => {
  it('forward: each PxP patch through the weight, tokens in row-major patch order (PyTorch flatten(2).transpose(1, 2))', () => {
    const g = graph();
    const out = run(g, stateOf(g, { 'pe.weight': w, 'pe.bias': b }), x, 2, { until: 'pe' });
    expect(out.shape).toEqual([2, 6, D]);
    expectClose(out.data, want, 1e-5);
  });

  it('shape inference: patch and width from the checkpoint or the hints; a remainder is cut as a strided conv does', () => {
    expect(graph().byId.get('pe')!.shape).toEqual({ kind: 'tokens', tokens: 6, features: D });
    const g = buildGraph({ layout: 'pytorch', input: [1, 7, 7], layers: [{ type: 'patchembed', name: 'pe' }, { type: 'tokenpool' }] }, new Map([['pe.weight', { shape: [5, 1, 3, 3], kind: 'float' as const }], ['pe.bias', { shape: [5], kind: 'float' as const }]]));
    expect(g.byId.get('pe')!.shape).toEqual({ kind: 'tokens', tokens: 4, features: 5 });
    expect(() => buildGraph({ layout: 'pytorch', input: [1, 7, 7], layers: [{ type: 'patchembed', name: 'pe', out: 4 }, { type: 'tokenpool' }] })).toThrow(/needs "patch" when no checkpoint is given/);
    expect(() => buildGraph({ layout: 'pytorch', input: [4], layers: [{ type: 'patchembed', name: 'pe', patch: 2, out: 4 }, { type: 'tokenpool' }] })).toThrow(/needs a \[C, H, W\] input/);
    expect(graph('tfjs').byId.get('pe')!.params.weight).toMatchObject({ tensor: 'pe/kernel', shape: [P, P, C, D], toEngine: undefined });
  });

  it('permutation role: opens the stream space on its outputs; not a REPAIR site (measured: correcting it hurts)', () => {
    const g = buildGraph({ layout: 'pytorch', input: [C, Hh, W], layers: [{ type: 'patchembed', name: 'pe', patch: P, out: D }, { type: 'tokenpool' }, { type: 'linear', name: 'head', out: 2 }] });
    expect(spaces(g)).toEqual([{ size: D, axes: ['pe.weight:0', 'pe.bias:0', 'head.weight:1'], nodes: ['pe', '#1'] }]);
    expect(patchembed.repair).toBeUndefined();
  });
});
