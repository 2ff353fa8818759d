import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { buildGraph, shapesOf } from '../../../src/pipeline/model/graph.ts';
import { sizeOf } from '../../../src/pipeline/layers/shape.ts';
import { initState } from '../../../src/pipeline/model/init.ts';
import { inferPermutationSpec, describeAxis } from '../../../src/pipeline/model/permspec.ts';
import { applyPermutations } from '../../../src/pipeline/align/permute.ts';
import { randomSpecPermutations } from '../../../src/pipeline/align/blocks.ts';
import { forward, inputTensor, loadModel } from '../../../src/pipeline/model/forward.ts';
import { gaussian, mulberry32 } from '../../../src/pipeline/random.ts';
import type { StateDict } from '../../../src/pipeline/model/tensor.ts';

/** Every per-channel tensor perturbed, so BN statistics and biases are far from their neutral init (weights are random already). */
function jitter(state: StateDict, seed: number): StateDict {
  const g = gaussian(mulberry32(seed));
  const out: StateDict = new Map();
  for (const [k, t] of state) {
    if (t.kind !== 'float' || t.shape.length > 1) { out.set(k, t); continue; }
    const data = t.data.map((v) => v + 0.2 * g());
    if (/running_var|moving_variance/.test(k)) for (let i = 0; i < data.length; i++) data[i] = 0.5 + Math.abs(data[i]);
    out.set(k, { ...t, data });
  }
  return out;
}

function logitsOf(arch: unknown, state: StateDict, x: Float32Array, n: number): Float32Array {
  const graph = buildGraph(arch, shapesOf(state));
  const model = loadModel(graph, state);
  const input = inputTensor(graph, x, n);
  const y = forward(model, input);
  const out = y.dataSync() as Float32Array;
  y.dispose(); input.dispose(); model.dispose();
  return out;
}

const residualGraph = {
  layout: 'pytorch', input: [3, 8, 8],
  layers: [
    { type: 'conv2d', name: 'stem', padding: 1, kernel: 3, out: 6 },
    { type: 'relu', id: 's' },
    { type: 'conv2d', name: 'b.c1', padding: 1, kernel: 3, out: 5 },
    { type: 'gelu' },
    { type: 'conv2d', name: 'b.c2', padding: 'same', kernel: 3, out: 6, id: 'main' },
    { type: 'add', inputs: ['main', 's'] },
    { type: 'maxpool', kernel: 2 },
    { type: 'layernorm', name: 'ln' },
    { type: 'avgpool', kernel: 3, stride: 1, padding: 1 },
    { type: 'flatten' },
    { type: 'linear', name: 'fc1', out: 7 },
    { type: 'relu' },
    { type: 'linear', name: 'head', out: 4 },
  ],
};

const cases: [string, Record<string, unknown>, number][] = [
  ['mlp', { template: 'mlp', input: [1, 6, 6], widths: [16, 12], classes: 5 }, 2],
  ['mlp bn', { template: 'mlp', input: [20], widths: [9, 8, 7], norm: 'bn', classes: 3 }, 3],
  ['mlp ln tfjs', { template: 'mlp', layout: 'tfjs', input: [20], widths: [9, 8], norm: 'ln', classes: 3 }, 2],
  ['vgg', { template: 'vgg', input: [2, 8, 8], config: [4, 'M', 6, 'M'], classes: 3 }, 2],
  ['vgg bn tfjs', { template: 'vgg', layout: 'tfjs', input: [8, 8, 2], config: [4, 'M', 5, 6, 'M'], norm: 'bn', classes: 3 }, 3],
  ['resnet20 bn', { template: 'resnet20', input: [3, 8, 8], width: 0.25, blocks: 1, classes: 4 }, 6],
  ['resnet20 ln', { template: 'resnet20', input: [3, 8, 8], width: 0.25, blocks: 2, norm: 'ln', classes: 4 }, 9],
  ['resnet20 none tfjs', { template: 'resnet20', layout: 'tfjs', input: [8, 8, 3], width: 0.25, blocks: 1, norm: 'none', classes: 4 }, 6],
  ['resnet18', { template: 'resnet18', input: [3, 32, 32], classes: 5 }, 12],
  ['hand-written residual graph', residualGraph, 3],
  // per block: q/k, v and the MLP hidden units; plus the stream
  ['vit timm, class token', { template: 'vit', input: [2, 8, 8], patch: 4, dim: 12, depth: 2, heads: 3, mlpHidden: 10, classes: 4 }, 7],
  ['vit timm, avg pool (fc_norm)', { template: 'vit', input: [2, 8, 8], patch: 4, dim: 12, depth: 2, heads: 3, mlpHidden: 10, classes: 4, pool: 'avg' }, 7],
  ['vit hf, class token', { template: 'vit', input: [1, 8, 12], patch: 4, dim: 8, depth: 2, heads: 2, classes: 3, naming: 'hf' }, 7],
  ['vit hf, avg pool', { template: 'vit', input: [1, 8, 12], patch: 4, dim: 8, depth: 1, heads: 4, classes: 3, naming: 'hf', pool: 'avg' }, 4],
  ['hand-written causal transformer, tanh gelu', {
    layout: 'pytorch', input: [3, 1, 6],
    layers: [
      { type: 'patchembed', name: 'embed', patch: 1, out: 8 },
      { type: 'posembed', name: 'pos', id: 's0' },
      { type: 'layernorm', name: 'ln1' },
      { type: 'attention', name: 'attn', heads: 2, causal: true, qkv: 'separate', names: { q: 'q', k: 'k', v: 'v', proj: 'o' } },
      { type: 'add', inputs: ['attn', 's0'], id: 's1' },
      { type: 'linear', name: 'up', out: 5 },
      { type: 'gelu', approximate: 'tanh' },
      { type: 'linear', name: 'down', out: 8, id: 'mlp' },
      { type: 'add', inputs: ['mlp', 's1'] },
      { type: 'tokenpool', pool: 'avg' },
      { type: 'linear', name: 'head', out: 3 },
    ],
  }, 4],
];

beforeAll(async () => { await tf.setBackend('cpu'); });

describe('inferred permutation spec', () => {
  for (const [label, arch, spaces] of cases) {
    it(`${label}: a random permutation leaves the logits unchanged`, () => {
      const graph = buildGraph(arch);
      const spec = inferPermutationSpec(graph);
      expect(spec.spaces.length).toBe(spaces);
      const state = jitter(initState(graph, 1), 2);
      const rand = mulberry32(3);
      // block-tied spaces (attention heads) get permutations that respect their blocks
      const perms = randomSpecPermutations(spec, rand);
      const permuted = applyPermutations(state, spec, perms);
      // the permutation must really move weights, or the check below proves nothing
      const moved = [...state].filter(([k, t]) => t.kind === 'float' && (permuted.get(k) as typeof t).data.some((v, i) => v !== t.data[i]));
      expect(moved.length).toBeGreaterThan(0);
      const n = 3;
      const g = gaussian(mulberry32(4));
      const x = Float32Array.from({ length: n * sizeOf(graph.input) }, g);
      const a = logitsOf(arch, state, x, n);
      const b = logitsOf(arch, permuted, x, n);
      let diff = 0;
      for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
      expect(a.every(Number.isFinite)).toBe(true);
      expect(diff).toBeLessThan(1e-4);
      // and a wrong spec would be caught: permuting only the first space's first axis changes the outputs
      const broken = new Map(permuted);
      const ax = spec.spaces[0].axes[0];
      broken.set(ax.tensor, state.get(ax.tensor)!);
      const c = logitsOf(arch, broken, x, n);
      expect(Math.max(...c.map((v, i) => Math.abs(v - a[i])))).toBeGreaterThan(1e-3);
    });
  }

  it('names every axis a space moves, with flatten spreading channels over H*W', () => {
    const graph = buildGraph({ template: 'vgg', input: [1, 4, 4], config: [3, 'M'], classes: 2 });
    const spec = inferPermutationSpec(graph);
    expect(spec.spaces).toHaveLength(1);
    expect(spec.spaces[0].axes.map(describeAxis)).toEqual(['features.0.weight:0', 'features.0.bias:0', 'classifier.weight:1']);
    expect(spec.spaces[0].axes[2]).toMatchObject({ repeat: 4, channelMajor: true });
  });
});
