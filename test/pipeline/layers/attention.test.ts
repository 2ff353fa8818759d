import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { attend, attention } from '../../../src/pipeline/layers/attention.ts';
import { buildGraph } from '../../../src/pipeline/model/graph.ts';
import { inferPermutationSpec } from '../../../src/pipeline/model/permspec.ts';
import { ModelError } from '../../../src/pipeline/errors.ts';
import { gaussian, mulberry32 } from '../../../src/pipeline/random.ts';
import { expectClose, net, run, spaces, stateOf, useCpu } from './helpers.ts';

useCpu();

const [T, D, H] = [5, 6, 2];
const dh = D / H;
const rand = (n: number, seed: number) => Array.from({ length: n }, gaussian(mulberry32(seed)));
/** y = x W^T + b for token rows x [T, in] and a PyTorch weight W [out, in] */
const affine = (x: number[][], w: number[], b: number[], out: number) => x.map((row) => Array.from({ length: out }, (_, o) => row.reduce((s, v, i) => s + v * w[o * row.length + i], b[o])));

/**
 * Multi-head attention by hand, for one sample: per head h, softmax over s of q_t . k_s / sqrt(dh)
 * (s <= t when causal), the weighted sum of v_s; heads side by side; then the output projection.
 */
function reference(x: number[][], q: number[][], k: number[][], v: number[][], proj: number[], projBias: number[], causal: boolean): number[][] {
  const context = x.map((_, t) => {
    const out: number[] = [];
    for (let h = 0; h < H; h++) {
      const cols = Array.from({ length: dh }, (_, j) => h * dh + j);
      const scores = k.map((ks, s) => (causal && s > t ? -Infinity : cols.reduce((a, c) => a + q[t][c] * ks[c], 0) / Math.sqrt(dh)));
      const top = Math.max(...scores);
      const w = scores.map((z) => Math.exp(z - top));
      const total = w.reduce((a, b) => a + b, 0);
      for (const c of cols) out.push(w.reduce((a, ws, s) => a + (ws / total) * v[s][c], 0));
    }
    return out;
  });
  return affine(context, proj, projBias, D);
}

const x = rand(2 * T * D, 1);
const tokensOf = (n: number) => Array.from({ length: T }, (_, t) => x.slice((n * T + t) * D, (n * T + t + 1) * D));
const [wq, wk, wv, wp] = [rand(D * D, 2), rand(D * D, 3), rand(D * D, 4), rand(D * D, 5)];
const [bq, bk, bv, bp] = [rand(D, 6), rand(D, 7), rand(D, 8), rand(D, 9)];
const want = (causal: boolean) => [0, 1].flatMap((n) => {
  const xs = tokensOf(n);
  return reference(xs, affine(xs, wq, bq, D), affine(xs, wk, bk, D), affine(xs, wv, bv, D), wp, bp, causal).flat();
});
/**
 * T tokens of D features as a graph input: a [D, 1, T] "image" through a 1x1 patch embedding with
 * identity weights (checked in patchembed.test.ts) is exactly the tokens; a pool ends the graph.
 */
const tokensGraph = (attn: Record<string, unknown>) => buildGraph({
  layout: 'pytorch', input: [D, 1, T],
  layers: [{ type: 'patchembed', name: 'embed', patch: 1, out: D, bias: false }, { type: 'attention', name: 'attn', heads: H, ...attn }, { type: 'tokenpool', pool: 'avg' }],
});
const eye = Array.from({ length: D * D }, (_, k) => (Math.floor(k / D) === k % D ? 1 : 0));
/** the tokens as the [D, 1, T] input, per sample */
const asImage = (xs: number[]) => [0, 1].flatMap((n) => Array.from({ length: D * T }, (_, k) => xs[(n * T + (k % T)) * D + Math.floor(k / T)]));
const outputOf = (g: ReturnType<typeof tokensGraph>, tensors: Record<string, number[]>, xs = x) => run(g, stateOf(g, { 'embed.weight': eye, ...tensors }), asImage(xs), 2, { until: 'attn' });

const fused = { 'attn.qkv.weight': [...wq, ...wk, ...wv], 'attn.qkv.bias': [...bq, ...bk, ...bv], 'attn.proj.weight': wp, 'attn.proj.bias': bp };
const separate = {
  'attn.attention.query.weight': wq, 'attn.attention.query.bias': bq, 'attn.attention.key.weight': wk, 'attn.attention.key.bias': bk,
  'attn.attention.value.weight': wv, 'attn.attention.value.bias': bv, 'attn.output.dense.weight': wp, 'attn.output.dense.bias': bp,
};

describe('attention', () => {
  it('forward, fused q/k/v (timm): softmax(q k^T / sqrt(d)) v per head, heads side by side, then the projection', () => {
    const out = outputOf(tokensGraph({}), fused);
    expect(out.shape).toEqual([2, T, D]);
    expectClose(out.data, want(false), 1e-4);
  });

  it('forward, separate q/k/v (Hugging Face names): the same function from the same weights', () => {
    expectClose(outputOf(tokensGraph({ qkv: 'separate' }), separate).data, want(false), 1e-4);
  });

  it('causal mask: matches the masked hand computation, and token t does not depend on later tokens', () => {
    const g = tokensGraph({ causal: true });
    const base = outputOf(g, fused);
    expectClose(base.data, want(true), 1e-4);
    // change the last two tokens of both samples: every earlier token's output stays as it was
    const changed = x.map((v, k) => (Math.floor(k / D) % T >= T - 2 ? v + 3 : v));
    const after = outputOf(g, fused, changed).data;
    const early = (k: number) => Math.floor(k / D) % T < T - 2;
    expect(after.filter((_, k) => early(k))).toEqual(base.data.filter((_, k) => early(k)));
    expect(after.filter((_, k) => !early(k))).not.toEqual(base.data.filter((_, k) => !early(k)));
    // without the mask, early tokens do see the change
    const open = tokensGraph({});
    expect(outputOf(open, fused, changed).data.filter((_, k) => early(k))).not.toEqual(outputOf(open, fused).data.filter((_, k) => early(k)));
  });

  it('parameters per mode and layout: names, checkpoint shapes, engine order, optional biases', () => {
    const pt = tokensGraph({}).byId.get('attn')!.params;
    expect(Object.values(pt).map((p) => [p.role, p.tensor, p.shape, p.toEngine])).toEqual([
      ['qkv', 'attn.qkv.weight', [3 * D, D], [1, 0]], ['qkvBias', 'attn.qkv.bias', [3 * D], undefined],
      ['proj', 'attn.proj.weight', [D, D], [1, 0]], ['projBias', 'attn.proj.bias', [D], undefined],
    ]);
    const hf = tokensGraph({ qkv: 'separate', qkvBias: false }).byId.get('attn')!.params;
    expect(Object.values(hf).map((p) => p.tensor)).toEqual(['attn.attention.query.weight', 'attn.attention.key.weight', 'attn.attention.value.weight', 'attn.output.dense.weight', 'attn.output.dense.bias']);
    const renamed = tokensGraph({ qkv: 'separate', names: { q: 'q_proj', k: 'k_proj', v: 'v_proj', proj: 'out_proj' } }).byId.get('attn')!.params;
    expect(Object.values(renamed).map((p) => p.tensor)).toContain('attn.q_proj.weight');
    expect(Object.values(renamed).map((p) => p.tensor)).toContain('attn.out_proj.bias');
    const tfjs = buildGraph({ layout: 'tfjs', input: [1, T, D], layers: [{ type: 'patchembed', name: 'e', patch: 1, out: D }, { type: 'attention', name: 'a', heads: H }, { type: 'tokenpool' }] }).byId.get('a')!.params;
    expect([tfjs.qkv.tensor, tfjs.qkv.shape, tfjs.qkv.toEngine]).toEqual(['a/qkv/kernel', [D, 3 * D], undefined]);
  });

  it('refuses features that do not split into the heads, and inputs that are not tokens', () => {
    expect(() => buildGraph({ layout: 'pytorch', input: [5, 1, T], layers: [{ type: 'patchembed', name: 'e', patch: 1, out: 5 }, { type: 'attention', name: 'a', heads: 2 }, { type: 'tokenpool' }] }))
      .toThrow(new ModelError('bad_architecture', 'layer "a" (attention): 5 features do not split into 2 heads'));
    expect(() => net([4], [{ type: 'attention', name: 'a', heads: 2 }])).toThrow(/needs tokens/);
  });

  it('permutation role: the stream on its inputs (its outputs open a space; here the net\'s fixed output), one q/k space and one v space tied as heads x head size, q/k/v shown as inner activations', () => {
    const g = tokensGraph({});
    expect(spaces(g)).toEqual([
      { size: D, axes: ['embed.weight:0', 'attn.qkv.weight:1'], nodes: ['embed'] },
      { size: D, axes: ['attn.qkv.weight:0@0', 'attn.qkv.bias:0@0', 'attn.qkv.weight:0@6', 'attn.qkv.bias:0@6'], nodes: [] },
      { size: D, axes: ['attn.qkv.weight:0@12', 'attn.qkv.bias:0@12', 'attn.proj.weight:1'], nodes: [] },
    ]);
    const spec = inferPermutationSpec(g);
    expect(spec.blocks).toEqual([{ spaces: [1, 2], groups: H, groupSize: dh }]);
    expect(spec.spaces.map((s) => s.inner)).toEqual([[], [{ node: 'attn', key: 'q' }, { node: 'attn', key: 'k' }], [{ node: 'attn', key: 'v' }]]);
    expect(spaces(tokensGraph({ qkv: 'separate' }))[1].axes).toEqual(['attn.attention.query.weight:0', 'attn.attention.query.bias:0', 'attn.attention.key.weight:0', 'attn.attention.key.bias:0']);
    expect(attention.repair?.fold('pytorch')).toEqual({ scale: { role: 'proj', axis: 0 }, shift: 'projBias' });
  });

  it('inner activations: the op shows q, k and v as [N, T, D] when asked', () => {
    const g = tokensGraph({});
    const seen = new Map<string, number[]>();
    run(g, stateOf(g, { 'embed.weight': eye, ...fused }), asImage(x), 2, { inner: new Map([['attn', (key: string, y: { shape: number[]; dataSync(): ArrayLike<number> }) => seen.set(key, [...y.shape, ...Array.from(y.dataSync()).slice(0, D)])]]) });
    expect([...seen.keys()]).toEqual(['q', 'k', 'v']);
    expect(seen.get('q')!.slice(0, 3)).toEqual([2, T, D]);
    expectClose(seen.get('k')!.slice(3), affine(tokensOf(0), wk, bk, D)[0], 1e-5);
  });

  it('memory: scores are computed a chunk of the batch at a time, with the same result', () => {
    const [q, k, v] = [1, 2, 3].map((seed) => tf.tensor4d(rand(7 * 2 * T * dh, seed), [7, 2, T, dh]));
    for (const causal of [false, true]) {
      const whole = attend(q, k, v, causal);
      const chunked = attend(q, k, v, causal, 2 * 2 * T * T); // two samples per chunk: four chunks
      expect(chunked.shape).toEqual([7, 2, T, dh]);
      expectClose(Array.from(chunked.dataSync()), Array.from(whole.dataSync()), 1e-6);
      tf.dispose([whole, chunked]);
    }
    tf.dispose([q, k, v]);
  });
});
