import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { join } from 'node:path';
import { Layer, LocalMergeRequest } from '../../../src/contracts/index.ts';
import { EXAMPLES } from '../../../examples/pairs.ts';
import { activationTaps } from '../../../src/pipeline/align/activationMatching.ts';
import { repairSites, repairState, siteStatistics, interpolateTargets, type SiteTargets } from '../../../src/pipeline/correct/repair.ts';
import { loadBuiltin, subset, type Dataset } from '../../../src/pipeline/io/datasets.ts';
import { readSafetensors } from '../../../src/pipeline/io/safetensors.ts';
import { sizeOf } from '../../../src/pipeline/layers/shape.ts';
import { runMerge } from '../../../src/pipeline/merge.ts';
import { buildGraph, shapesOf, type ModelGraph } from '../../../src/pipeline/model/graph.ts';
import { initState } from '../../../src/pipeline/model/init.ts';
import { lerpStates } from '../../../src/pipeline/model/interpolate.ts';
import { inferPermutationSpec } from '../../../src/pipeline/model/permspec.ts';
import type { FloatTensor, StateDict } from '../../../src/pipeline/model/tensor.ts';
import { gaussian, mulberry32 } from '../../../src/pipeline/random.ts';
import { tapId, type ForwardEngine } from '../../../src/pipeline/runtime/engine.ts';
import { fileSource, nodeHost } from '../../../src/pipeline/runtime/nodeHost.ts';
import { ortEngine } from '../../../src/pipeline/runtime/ortEngine.ts';
import { tfjsEngine } from '../../../src/pipeline/runtime/tfjsEngine.ts';

/*
 * The ONNX Runtime engine against the tfjs one (on tfjs's pure-JS cpu backend, the reference the
 * layer kinds are tested on): the same logits on every layer kind and every example architecture,
 * the same statistics for REPAIR, RESET and activation matching; and REPAIR's single pass against
 * the layer-by-layer definition, written out here.
 */
let ort: ForwardEngine;
beforeAll(async () => {
  await tf.setBackend('cpu');
  ort = await ortEngine({ threads: 2, memoryMB: 256 });
});

const reference = (n: number) => tfjsEngine(n);

function gaussianData(graph: ModelGraph, n: number, seed: number, classes = 3): Dataset {
  const g = gaussian(mulberry32(seed));
  const d = sizeOf(graph.input);
  return { x: Float32Array.from({ length: n * d }, () => g()), y: Int32Array.from({ length: n }, (_, i) => i % classes), n, sampleShape: [d], name: 'gaussian', classes };
}

/** Every float tensor random (norm variances positive), so no kind runs on its identity-like defaults. */
function randomState(graph: ModelGraph, seed: number): StateDict {
  const rand = mulberry32(seed);
  const state = initState(graph, seed);
  for (const [name, t] of state) {
    if (t.kind !== 'float') continue;
    const positive = /running_var|moving_variance/.test(name);
    state.set(name, { ...t, data: t.data.map(() => (positive ? 0.5 + rand() : 2 * rand() - 1)) });
  }
  return state;
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
  expect(worst, what).toBeLessThanOrEqual(tol);
}

const kindCases: { what: string; types: string[]; input: number[]; layers: unknown[]; layout?: 'pytorch' | 'tfjs' }[] = [
  { what: 'linear with and without bias', types: ['linear', 'relu'], input: [6], layers: [{ type: 'linear', name: 'a', out: 5 }, { type: 'relu' }, { type: 'linear', name: 'b', out: 3, bias: false }] },
  { what: 'linear, tfjs layout', types: ['linear', 'gelu'], layout: 'tfjs', input: [6], layers: [{ type: 'linear', name: 'a', out: 5 }, { type: 'gelu' }, { type: 'linear', name: 'b', out: 3 }] },
  {
    what: 'conv2d: stride, numeric padding, no bias; flatten in PyTorch order', types: ['conv2d', 'flatten', 'linear'], input: [3, 7, 7],
    layers: [{ type: 'conv2d', name: 'c', out: 4, kernel: 3, stride: 2, padding: 1 }, { type: 'conv2d', name: 'd', out: 5, kernel: 2, bias: false }, { type: 'flatten' }, { type: 'linear', name: 'fc', out: 3 }],
  },
  {
    what: 'conv2d "same" with an odd padding, tfjs layout; flatten in tfjs order', types: ['conv2d', 'flatten', 'linear'], layout: 'tfjs', input: [8, 8, 3],
    layers: [{ type: 'conv2d', name: 'c', out: 4, kernel: 4, stride: 3, padding: 'same' }, { type: 'flatten' }, { type: 'linear', name: 'fc', out: 3 }],
  },
  {
    what: 'batchnorm on maps and on features', types: ['batchnorm'], input: [3, 5, 5],
    layers: [{ type: 'conv2d', name: 'c', out: 4, kernel: 3 }, { type: 'batchnorm', name: 'bn' }, { type: 'flatten' }, { type: 'linear', name: 'fc', out: 6 }, { type: 'batchnorm', name: 'bn2' }, { type: 'linear', name: 'out', out: 3 }],
  },
  {
    what: 'layernorm on maps and on features', types: ['layernorm'], input: [3, 5, 5],
    layers: [{ type: 'conv2d', name: 'c', out: 4, kernel: 3 }, { type: 'layernorm', name: 'ln' }, { type: 'flatten' }, { type: 'linear', name: 'fc', out: 6 }, { type: 'layernorm', name: 'ln2' }, { type: 'linear', name: 'out', out: 3 }],
  },
  {
    what: 'pools with padding, global average pool, identity', types: ['maxpool', 'avgpool', 'globalavgpool', 'identity'], input: [3, 9, 9],
    layers: [{ type: 'maxpool', kernel: 3, stride: 2, padding: 1 }, { type: 'avgpool', kernel: 2, padding: 1 }, { type: 'identity' }, { type: 'conv2d', name: 'c', out: 4, kernel: 1 }, { type: 'globalavgpool' }, { type: 'linear', name: 'fc', out: 3 }],
  },
  {
    what: 'a residual add', types: ['add'], input: [3, 6, 6],
    layers: [
      { type: 'conv2d', name: 'c1', out: 4, kernel: 3, padding: 1, id: 'c1' }, { type: 'relu', id: 'r1' },
      { type: 'conv2d', name: 'c2', out: 4, kernel: 3, padding: 1 }, { type: 'add', id: 'sum', inputs: ['r1', 'c2'] },
      { type: 'flatten' }, { type: 'linear', name: 'fc', out: 3 },
    ],
  },
  {
    what: 'a pre-LN transformer block: patch embedding, class token, position embedding, fused attention, layernorm and linear on tokens, tanh GELU, class-token pooling',
    types: ['patchembed', 'clstoken', 'posembed', 'attention', 'layernorm', 'linear', 'gelu', 'add', 'tokenpool'], input: [3, 8, 8],
    layers: [
      { type: 'patchembed', name: 'pe', patch: 4, out: 8 }, { type: 'clstoken', name: 'cls' }, { type: 'posembed', name: 'pos', id: 'x0' },
      { type: 'layernorm', name: 'ln1', eps: 1e-6 }, { type: 'attention', name: 'attn', heads: 2 }, { type: 'add', id: 'x1', inputs: ['x0', 'attn'] },
      { type: 'layernorm', name: 'ln2', eps: 1e-6 }, { type: 'linear', name: 'fc1', out: 12 }, { type: 'gelu', approximate: 'tanh' }, { type: 'linear', name: 'fc2', out: 8 },
      { type: 'add', inputs: ['x1', 'fc2'] }, { type: 'layernorm', name: 'norm' }, { type: 'tokenpool', pool: 'token' }, { type: 'linear', name: 'head', out: 3 },
    ],
  },
  {
    what: 'tfjs layout: separate q/k/v without bias, a causal mask, two class tokens, erf GELU on tokens, mean pooling that skips them',
    types: ['patchembed', 'clstoken', 'attention', 'tokenpool', 'gelu'], layout: 'tfjs', input: [8, 8, 2],
    layers: [
      { type: 'patchembed', name: 'pe', patch: 2, out: 8 }, { type: 'clstoken', name: 'reg', count: 2, id: 'x0' },
      { type: 'attention', name: 'attn', heads: 4, qkv: 'separate', causal: true, qkvBias: false }, { type: 'add', id: 'x1', inputs: ['x0', 'attn'] },
      { type: 'linear', name: 'fc', out: 8 }, { type: 'gelu', id: 'g' }, { type: 'add', inputs: ['x1', 'g'] },
      { type: 'tokenpool', pool: 'avg', skip: 2 }, { type: 'linear', name: 'head', out: 3 },
    ],
  },
];

describe('ONNX Runtime logits equal tfjs logits (1e-4)', () => {
  for (const c of kindCases) {
    it(c.what, async () => {
      const graph = buildGraph({ layout: c.layout ?? 'pytorch', input: c.input, layers: c.layers });
      const state = randomState(graph, 3);
      const data = gaussianData(graph, 17, 4);
      expectClose(await ort.logits(graph, state, data), await reference(8).logits(graph, state, data), 1e-4, c.what);
    });
  }

  it('the cases above cover every layer kind of the schema', () => {
    const all = Layer.options.flatMap((o) => {
      const t = o.shape.type as unknown as { options?: string[]; value?: string };
      return t.options ?? [t.value!];
    });
    expect(new Set(kindCases.flatMap((c) => c.types))).toEqual(new Set(all));
  });

  for (const example of EXAMPLES) {
    it(`the example ${example.name}, on its checkpoint and 64 test images`, async () => {
      const src = await fileSource(join(import.meta.dirname, '..', '..', '..', 'examples', example.name, 'seed1.safetensors'));
      let state: StateDict;
      try {
        state = (await readSafetensors(src)).tensors;
      } finally {
        await src.close?.();
      }
      const graph = buildGraph(example.architecture, shapesOf(state));
      const data = subset(await loadBuiltin(nodeHost.packageFiles, example.dataset, 'test'), 64);
      expectClose(await ort.logits(graph, state, data), await reference(32).logits(graph, state, data), 1e-4, example.name);
    });
  }
});

/** MLP, conv, LayerNorm, BatchNorm and LayerNorm-transformer nets: REPAIR's sites in each kind of net. */
const nets: Record<string, unknown> = {
  mlp: { template: 'mlp', input: [5], widths: [7, 6], classes: 3 },
  conv: { layout: 'pytorch', input: [2, 6, 6], layers: [{ type: 'conv2d', name: 'c1', out: 5, kernel: 3, padding: 1 }, { type: 'relu' }, { type: 'maxpool' }, { type: 'conv2d', name: 'c2', out: 4, kernel: 3, padding: 1 }, { type: 'relu' }, { type: 'flatten' }, { type: 'linear', name: 'fc', out: 3 }] },
  layernorm: { template: 'mlp', input: [5], widths: [7, 6], norm: 'ln', classes: 3 },
  batchnorm: { template: 'mlp', input: [5], widths: [7, 6], norm: 'bn', classes: 3 },
  transformer: { template: 'vit', input: [2, 8, 8], patch: 4, dim: 8, depth: 2, heads: 2, mlpHidden: 12, classes: 3 },
};

/** The layer-by-layer definition (DESIGN 4.4): each site measured over the whole set with the sites before it folded, then folded. */
async function layerByLayer(graph: ModelGraph, merged: StateDict, targets: Map<string, SiteTargets>, data: Dataset): Promise<StateDict> {
  let state = new Map(merged);
  for (const [id, t] of targets) {
    const m = (await reference(data.n).moments(graph, state, [id], data)).get(id)!;
    const variance = m.variance();
    const gain = t.std.map((sd, c) => sd / Math.sqrt(variance[c] + 1e-5));
    const node = graph.byId.get(id)!;
    const fold = node.kind.repair!.fold(graph.layout);
    const w = state.get(node.params[fold.scale.role].tensor) as FloatTensor;
    const b = state.get(node.params[fold.shift].tensor) as FloatTensor;
    const inner = w.shape.slice(fold.scale.axis + 1).reduce((a, v) => a * v, 1);
    state = new Map(state);
    state.set(node.params[fold.scale.role].tensor, { ...w, data: w.data.map((v, i) => v * gain[Math.floor(i / inner) % w.shape[fold.scale.axis]]) });
    state.set(node.params[fold.shift].tensor, { ...b, data: b.data.map((v, c) => t.mean[c] + gain[c] * (v - m.mean[c])) });
  }
  return state;
}

describe('REPAIR in one pass', () => {
  for (const [name, arch] of Object.entries(nets)) {
    it(`${name}: ONNX Runtime's single pass and the tfjs pass over one batch equal the layer-by-layer definition (1e-5)`, async () => {
      const graph = buildGraph(arch);
      const spec = inferPermutationSpec(graph);
      const [a, b] = [randomState(graph, 1), randomState(graph, 2)];
      const data = gaussianData(graph, 300, 7);
      const sites = repairSites(graph, spec, { logits: false });
      expect(sites.length).toBeGreaterThan(0);
      const [ta, tb] = [await siteStatistics(ort, graph, a, sites, data), await siteStatistics(ort, graph, b, sites, data)];
      const targets = interpolateTargets(ta, tb, 0.4);
      const merged = lerpStates(a, b, 0.4);
      const want = await layerByLayer(graph, merged, targets, data);
      for (const [engine, what] of [[ort, 'onnxruntime'], [reference(data.n), 'tfjs']] as const) {
        const got = await repairState(engine, graph, merged, targets, data);
        expect(got.issues).toEqual([]);
        for (const [k, t] of want) if (t.kind === 'float') expectClose((got.state.get(k) as FloatTensor).data, t.data, 1e-5, `${what} ${k}`);
      }
    });
  }
});

describe('the engines agree on every statistic', () => {
  it('parent moments, RESET\'s batch statistics and activation correlations', async () => {
    const graph = buildGraph(nets.batchnorm);
    const [a, b] = [randomState(graph, 5), randomState(graph, 6)];
    const data = gaussianData(graph, 200, 8);
    const tf1 = reference(data.n);
    const ids = graph.nodes.filter((n) => n.kind.repair).map((n) => n.id);
    const [m1, m2] = [await ort.moments(graph, a, ids, data), await tf1.moments(graph, a, ids, data)];
    for (const id of ids) { expectClose(m1.get(id)!.mean, m2.get(id)!.mean, 1e-5, id); expectClose(m1.get(id)!.variance(), m2.get(id)!.variance(), 1e-5, id); }
    const [r1, r2] = [await ort.batchStatsMoments(graph, a, data), await tf1.batchStatsMoments(graph, a, data)];
    expect([...r1.keys()]).toEqual([...r2.keys()]);
    for (const id of r1.keys()) { expectClose(r1.get(id)!.mean, r2.get(id)!.mean, 1e-5, id); expectClose(r1.get(id)!.variance(), r2.get(id)!.variance(), 1e-5, id); }
    const taps = graph.nodes.filter((n) => n.kind.tap === 'nonlinearity').map((n) => ({ node: n.id }));
    const [c1, c2] = [await ort.correlations(graph, a, b, taps, data), await tf1.correlations(graph, a, b, taps, data)];
    for (const { node: id } of taps) expectClose(c1.get(id)!.correlation(), c2.get(id)!.correlation(), 1e-4, id);
    const [e1, e2] = [await ort.evaluate(graph, a, data), await tf1.evaluate(graph, a, data)];
    expect(e1.accuracy).toBe(e2.accuracy);
    expect(e1.loss).toBeCloseTo(e2.loss, 5);
  });
});

describe('the engines agree on a ViT', () => {
  it('activation matching\'s taps (attention\'s q, k, v inside it, the MLP hidden units, the stream after each add) and REPAIR\'s moments over tokens', async () => {
    const graph = buildGraph(nets.transformer);
    const spec = inferPermutationSpec(graph);
    const [a, b] = [randomState(graph, 5), randomState(graph, 6)];
    const data = gaussianData(graph, 120, 8);
    const tf1 = reference(40);
    const taps = activationTaps(graph, spec).flat();
    expect(taps.filter((t) => t.key).map(tapId)).toEqual(expect.arrayContaining(['blocks.0.attn:q', 'blocks.0.attn:k', 'blocks.0.attn:v']));
    const [c1, c2] = [await ort.correlations(graph, a, b, taps, data), await tf1.correlations(graph, a, b, taps, data)];
    // (a wrong row count would show: the correlations are normalised by it)
    for (const t of taps) expectClose(c1.get(tapId(t))!.correlation(), c2.get(tapId(t))!.correlation(), 1e-4, tapId(t));
    const ids = repairSites(graph, spec, { logits: false }).map((n) => n.id);
    expect(ids).toEqual(expect.arrayContaining(['blocks.0.attn', 'blocks.0.mlp.fc1', 'blocks.0.mlp.fc2']));
    const [m1, m2] = [await ort.moments(graph, a, ids, data), await tf1.moments(graph, a, ids, data)];
    for (const id of ids) { expectClose(m1.get(id)!.mean, m2.get(id)!.mean, 1e-5, id); expectClose(m1.get(id)!.variance(), m2.get(id)!.variance(), 1e-5, id); }
  });
});

describe('the sweep', () => {
  it('shares the endpoint evaluations between naive and aligned, and equals the plain sweep', async () => {
    const graph = buildGraph(nets.mlp);
    const models = [randomState(graph, 11), randomState(graph, 12)];
    const data = gaussianData(graph, 150, 9);
    const options = LocalMergeRequest.parse({
      models: [{ path: 'a' }, { path: 'b' }], architecture: nets.mlp, data: { evaluation: { path: 'e' } },
      alignment: { method: 'weight' }, repair: { method: 'repair' }, sweep: { points: 5 },
    });
    let evaluations = 0;
    const counting: ForwardEngine = { ...ort, info: ort.info, evaluate: (...args) => { evaluations++; return ort.evaluate(...args); } };
    const { report } = await runMerge({ graph, models, evaluation: data, calibration: data, backend: 'cpu', options, engine: counting });
    // 5 alphas x 3 variants, less the two shared ends
    expect(evaluations).toBe(13);
    const spec = inferPermutationSpec(graph);
    const { weightMatching } = await import('../../../src/pipeline/align/weightMatching.ts');
    const { applyPermutations } = await import('../../../src/pipeline/align/permute.ts');
    const aligned = applyPermutations(models[1], spec, weightMatching(spec, models[0], models[1], { seed: 0, maxIterations: 100 }).perms);
    for (const [variant, end] of [['naive', models[1]], ['aligned', aligned]] as const) {
      const plain = [];
      for (const alpha of report.alphas) plain.push(await ort.evaluate(graph, lerpStates(models[0], end, alpha), data));
      expectClose(report.variants[variant]!.loss, plain.map((e) => e.loss), 1e-6, variant);
      expect(report.variants[variant]!.accuracy).toEqual(plain.map((e) => e.accuracy));
    }
    expect(report.engine).toEqual({ name: 'onnxruntime', device: 'cpu', threads: 2 });
  });
});
