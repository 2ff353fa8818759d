import { describe, it, expect } from 'vitest';
import { buildGraph } from '../../../src/pipeline/model/graph.ts';
import type { FloatTensor } from '../../../src/pipeline/model/tensor.ts';
import { expectClose, run, seq, spaces, stateOf, useCpu } from './helpers.ts';

useCpu();

/*
 * The token kinds around a transformer's blocks: clstoken, posembed, tokenpool, and linear and
 * layernorm applied per token. Tokens enter as a [D, 1, T] image through an identity 1x1 patch
 * embedding, so sample n's token t is x[n][t].
 */
const [T, D] = [3, 2];
const eye = [1, 0, 0, 1];
const tokens = [[[1, 2], [3, -1], [0, 5]], [[-2, 1], [4, 4], [1, 0]]];
const asImage = tokens.flatMap((sample) => seq(D * T, (k) => sample[k % T][Math.floor(k / T)]));
const graphOf = (layers: unknown[]) => buildGraph({ layout: 'pytorch', input: [D, 1, T], layers: [{ type: 'patchembed', name: 'e', patch: 1, out: D, bias: false }, ...layers] });
const output = (layers: unknown[], values: Record<string, number[]>, until?: string) => {
  const g = graphOf(layers);
  return run(g, stateOf(g, { 'e.weight': eye, ...values }), asImage, 2, until ? { until } : {});
};

describe('clstoken', () => {
  it('forward: its tokens first, the same for every sample; shape and parameter from the checkpoint ([1, count, D], the layer\'s own name)', () => {
    const out = output([{ type: 'clstoken', name: 'cls_token', count: 2 }, { type: 'tokenpool' }], { cls_token: [7, 8, 9, 10] }, 'cls_token');
    expect(out.shape).toEqual([2, T + 2, D]);
    expect(out.data).toEqual(tokens.flatMap((s) => [7, 8, 9, 10, ...s.flat()]));
    const g = buildGraph({ layout: 'pytorch', input: [D, 1, T], layers: [{ type: 'patchembed', name: 'e' }, { type: 'clstoken', name: 'vit.cls' }, { type: 'tokenpool' }] },
      new Map([['e.weight', { shape: [D, D, 1, 1], kind: 'float' as const }], ['e.bias', { shape: [D], kind: 'float' as const }], ['vit.cls', { shape: [1, 3, D], kind: 'float' as const }]]));
    expect(g.byId.get('vit.cls')!.shape).toEqual({ kind: 'tokens', tokens: T + 3, features: D });
    expect(g.byId.get('vit.cls')!.params.token).toMatchObject({ tensor: 'vit.cls', shape: [1, 3, D] });
  });

  it('permutation role: its feature axis joins the stream; init zero', () => {
    const layers = [{ type: 'clstoken', name: 'cls' }, { type: 'tokenpool' }, { type: 'linear', name: 'head', out: 2 }];
    expect(spaces(graphOf(layers))[0].axes).toEqual(['e.weight:0', 'cls:2', 'head.weight:1']);
    expect(Array.from((stateOf(graphOf(layers)).get('cls') as FloatTensor).data)).toEqual([0, 0]);
  });
});

describe('posembed', () => {
  it('forward: one learned vector per position added to every sample; its feature axis in the stream', () => {
    const pos = [0.5, 1, -1, 2, 3, 0];
    const out = output([{ type: 'posembed', name: 'pos_embed' }, { type: 'tokenpool' }], { pos_embed: pos }, 'pos_embed');
    expect(out.data).toEqual(tokens.flatMap((s) => s.flat().map((v, k) => v + pos[k])));
    expect(spaces(graphOf([{ type: 'posembed', name: 'pos' }, { type: 'tokenpool' }, { type: 'linear', name: 'head', out: 2 }]))[0].axes).toContain('pos:2');
    expect(() => buildGraph({ layout: 'pytorch', input: [D, 1, T], layers: [{ type: 'patchembed', name: 'e' }, { type: 'posembed', name: 'pos' }, { type: 'tokenpool' }] },
      new Map([['e.weight', { shape: [D, D, 1, 1], kind: 'float' as const }], ['e.bias', { shape: [D], kind: 'float' as const }], ['pos', { shape: [1, T + 1, D], kind: 'float' as const }]])))
      .toThrow(/tensor "pos" has shape \[1, 4, 2\], expected \[1, 3, 2\]/);
  });
});

describe('tokenpool', () => {
  it('forward: the first token, or the mean of the tokens after skip', () => {
    expect(output([{ type: 'tokenpool', pool: 'token' }], {}).data).toEqual(tokens.flatMap((s) => s[0]));
    expectClose(output([{ type: 'tokenpool', pool: 'avg' }], {}).data, tokens.flatMap((s) => [0, 1].map((c) => s.reduce((a, t) => a + t[c], 0) / T)));
    expectClose(output([{ type: 'tokenpool', pool: 'avg', skip: 1 }], {}).data, tokens.flatMap((s) => [0, 1].map((c) => (s[1][c] + s[2][c]) / 2)));
    expect(() => graphOf([{ type: 'tokenpool', pool: 'avg', skip: T }])).toThrow(/skips 3 of 3 tokens/);
    expect(graphOf([{ type: 'tokenpool' }]).byId.get('#1')!.shape).toEqual({ kind: 'flat', features: D });
  });
});

describe('linear and layernorm on tokens', () => {
  it('linear: the same map on every token; its outputs open a space', () => {
    const [w, b] = [[1, 2, -1, 0, 3, 1], [0.5, 0, -0.5]];
    const out = output([{ type: 'linear', name: 'fc', out: 3 }, { type: 'tokenpool' }], { 'fc.weight': w, 'fc.bias': b }, 'fc');
    expect(out.shape).toEqual([2, T, 3]);
    expectClose(out.data, tokens.flatMap((s) => s.flatMap((t) => [0, 1, 2].map((o) => w[2 * o] * t[0] + w[2 * o + 1] * t[1] + b[o]))));
    expect(spaces(graphOf([{ type: 'linear', name: 'fc', out: 3 }, { type: 'gelu' }, { type: 'tokenpool' }, { type: 'linear', name: 'head', out: 2 }]))[1]).toEqual({ size: 3, axes: ['fc.weight:0', 'fc.bias:0', 'head.weight:1'], nodes: ['fc', '#2', '#3'] });
  });

  it('layernorm: each token standardised over its own features (not over the sequence), then the affine', () => {
    const out = output([{ type: 'layernorm', name: 'ln', eps: 1e-3 }, { type: 'tokenpool' }], { 'ln.weight': [2, 1], 'ln.bias': [0, 1] }, 'ln');
    const want = tokens.flatMap((s) => s.flatMap(([a, b]) => {
      const m = (a + b) / 2;
      const sd = Math.sqrt(((a - m) ** 2 + (b - m) ** 2) / 2 + 1e-3);
      return [2 * ((a - m) / sd), (b - m) / sd + 1];
    }));
    expectClose(out.data, want, 1e-5);
  });
});
