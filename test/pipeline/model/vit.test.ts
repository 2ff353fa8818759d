import { describe, it, expect } from 'vitest';
import { buildGraph, type TensorShapes } from '../../../src/pipeline/model/graph.ts';

/*
 * The vit template's tensor names and shapes, written down from the sources: timm's
 * VisionTransformer (PatchEmbed `patch_embed.proj`, `cls_token`, `pos_embed`, Block `norm1`,
 * Attention `attn.qkv` [3D, D] and `attn.proj`, `norm2`, Mlp `mlp.fc1` / `mlp.fc2`; `norm` before
 * the pooling, or `fc_norm` after it when global_pool is 'avg'; `head`) and transformers'
 * ViTForImageClassification (`vit.embeddings.{cls_token, position_embeddings,
 * patch_embeddings.projection}`, `vit.encoder.layer.{i}.{layernorm_before, attention.attention.
 * {query,key,value}, attention.output.dense, layernorm_after, intermediate.dense, output.dense}`,
 * `vit.layernorm`, `classifier`).
 */
const [C, S, P, D, L, HEADS, M, K] = [3, 32, 8, 24, 2, 4, 40, 7];
const T = (S / P) ** 2 + 1;
const base = { template: 'vit', input: [C, S, S], patch: P, dim: D, depth: L, heads: HEADS, mlpHidden: M, classes: K };

function timmTensors(pool: 'token' | 'avg', options: { classToken?: boolean; fcNorm?: boolean } = {}): Record<string, number[]> {
  const classToken = options.classToken ?? true;
  const out: Record<string, number[]> = {
    'patch_embed.proj.weight': [D, C, P, P], 'patch_embed.proj.bias': [D],
    pos_embed: [1, classToken ? T : T - 1, D],
    'head.weight': [K, D], 'head.bias': [K],
  };
  if (classToken) out.cls_token = [1, 1, D];
  const norm = options.fcNorm ?? pool === 'avg' ? 'fc_norm' : 'norm';
  Object.assign(out, { [`${norm}.weight`]: [D], [`${norm}.bias`]: [D] });
  for (let i = 0; i < L; i++) {
    Object.assign(out, {
      [`blocks.${i}.norm1.weight`]: [D], [`blocks.${i}.norm1.bias`]: [D],
      [`blocks.${i}.attn.qkv.weight`]: [3 * D, D], [`blocks.${i}.attn.qkv.bias`]: [3 * D],
      [`blocks.${i}.attn.proj.weight`]: [D, D], [`blocks.${i}.attn.proj.bias`]: [D],
      [`blocks.${i}.norm2.weight`]: [D], [`blocks.${i}.norm2.bias`]: [D],
      [`blocks.${i}.mlp.fc1.weight`]: [M, D], [`blocks.${i}.mlp.fc1.bias`]: [M],
      [`blocks.${i}.mlp.fc2.weight`]: [D, M], [`blocks.${i}.mlp.fc2.bias`]: [D],
    });
  }
  return out;
}

function hfTensors(): Record<string, number[]> {
  const out: Record<string, number[]> = {
    'vit.embeddings.cls_token': [1, 1, D], 'vit.embeddings.position_embeddings': [1, T, D],
    'vit.embeddings.patch_embeddings.projection.weight': [D, C, P, P], 'vit.embeddings.patch_embeddings.projection.bias': [D],
    'vit.layernorm.weight': [D], 'vit.layernorm.bias': [D], 'classifier.weight': [K, D], 'classifier.bias': [K],
  };
  for (let i = 0; i < L; i++) {
    const l = `vit.encoder.layer.${i}`;
    for (const p of ['query', 'key', 'value']) Object.assign(out, { [`${l}.attention.attention.${p}.weight`]: [D, D], [`${l}.attention.attention.${p}.bias`]: [D] });
    Object.assign(out, {
      [`${l}.attention.output.dense.weight`]: [D, D], [`${l}.attention.output.dense.bias`]: [D],
      [`${l}.intermediate.dense.weight`]: [M, D], [`${l}.intermediate.dense.bias`]: [M],
      [`${l}.output.dense.weight`]: [D, M], [`${l}.output.dense.bias`]: [D],
      [`${l}.layernorm_before.weight`]: [D], [`${l}.layernorm_before.bias`]: [D],
      [`${l}.layernorm_after.weight`]: [D], [`${l}.layernorm_after.bias`]: [D],
    });
  }
  return out;
}

const expectedOf = (arch: unknown, shapes?: TensorShapes) => Object.fromEntries([...buildGraph(arch, shapes).expected].map(([k, v]) => [k, v.shape]));
const sorted = (o: Record<string, number[]>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
const checkpoint = (o: Record<string, number[]>): TensorShapes => new Map(Object.entries(o).map(([k, shape]) => [k, { shape, kind: 'float' as const }]));

describe('vit template', () => {
  it('timm naming: exactly VisionTransformer\'s state_dict names and shapes, token and avg pooling', () => {
    expect(sorted(expectedOf({ ...base, naming: 'timm', pool: 'token' }))).toEqual(sorted(timmTensors('token')));
    expect(sorted(expectedOf({ ...base, naming: 'timm', pool: 'avg' }))).toEqual(sorted(timmTensors('avg')));
    // defaults: timm naming, token pooling, mlpHidden 4 x dim, 10 classes
    const defaults = buildGraph({ template: 'vit', input: [C, S, S], patch: P, dim: D, depth: 1, heads: HEADS });
    expect(defaults.expected.get('blocks.0.mlp.fc1.weight')?.shape).toEqual([4 * D, D]);
    expect(defaults.expected.get('head.weight')?.shape).toEqual([10, D]);
    expect(defaults.nodes.filter((n) => n.layer.type === 'layernorm').every((n) => n.layer.type === 'layernorm' && n.layer.eps === 1e-6)).toBe(true);
  });

  it('hf naming: exactly ViTForImageClassification\'s names and shapes', () => {
    expect(sorted(expectedOf({ ...base, naming: 'hf', eps: 1e-12 }))).toEqual(sorted(hfTensors()));
  });

  it('follows the checkpoint where timm\'s options change the names: no class token, fc_norm or norm with avg pooling', () => {
    const noCls = timmTensors('avg', { classToken: false });
    const g = buildGraph({ ...base, pool: 'avg' }, checkpoint(noCls));
    expect(sorted(Object.fromEntries([...g.expected].map(([k, v]) => [k, v.shape])))).toEqual(sorted(noCls));
    expect(g.nodes.find((n) => n.layer.type === 'tokenpool')!.layer).toMatchObject({ pool: 'avg', skip: 0 });
    const withCls = buildGraph({ ...base, pool: 'avg' }, checkpoint(timmTensors('avg')));
    expect(withCls.nodes.find((n) => n.layer.type === 'tokenpool')!.layer).toMatchObject({ pool: 'avg', skip: 1 });
    // timm with fc_norm=False: `norm` before average pooling
    const normBefore = timmTensors('avg', { fcNorm: false });
    expect(sorted(expectedOf({ ...base, pool: 'avg' }, checkpoint(normBefore)))).toEqual(sorted(normBefore));
  });

  it('a checkpoint of another size is a shape_mismatch naming the tensor', () => {
    const wrong = { ...timmTensors('token'), pos_embed: [1, 50, D] };
    expect(() => buildGraph({ ...base }, checkpoint(wrong))).toThrow(/layer "pos_embed" \(posembed\): tensor "pos_embed" has shape \[1, 50, 24\], expected \[1, 17, 24\]/);
    expect(() => buildGraph({ ...base, heads: 5 })).toThrow(/24 features do not split into 5 heads/);
  });
});
