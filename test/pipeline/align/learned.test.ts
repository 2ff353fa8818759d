import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { AlignmentOptions, LocalMergeRequest } from '../../../src/contracts/index.ts';
import type { Dataset } from '../../../src/pipeline/io/datasets.ts';
import { interpolationLoss, logSinkhorn, mixState, uploadTensors } from '../../../src/pipeline/model/differentiable.ts';
import { lerpStates } from '../../../src/pipeline/model/interpolate.ts';
import { evaluate } from '../../../src/pipeline/model/passes.ts';
import { forward, inputTensor, loadModel } from '../../../src/pipeline/model/forward.ts';
import { buildGraph, type ModelGraph } from '../../../src/pipeline/model/graph.ts';
import { featuresOf, sizeOf } from '../../../src/pipeline/layers/shape.ts';
import { initState } from '../../../src/pipeline/model/init.ts';
import { runMerge } from '../../../src/pipeline/merge.ts';
import { alignmentMethods } from '../../../src/pipeline/align/methods.ts';
import { inferPermutationSpec, type PermSpec } from '../../../src/pipeline/model/permspec.ts';
import { applyPermutations, invertPerm, type Perm } from '../../../src/pipeline/align/permute.ts';
import { gaussian, mulberry32, randomPermutation } from '../../../src/pipeline/random.ts';
import { sinkhornProject, sinkhornRebasin, type SinkhornOptions } from '../../../src/pipeline/align/sinkhorn.ts';
import { steRebasin, type SteOptions } from '../../../src/pipeline/align/ste.ts';
import type { FloatTensor, StateDict } from '../../../src/pipeline/model/tensor.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

/** Labels from a fixed rule on the inputs, so the task loss has something to say. */
function synthetic(graph: ModelGraph, n: number, seed: number): Dataset {
  const d = sizeOf(graph.input);
  const classes = featuresOf(graph.byId.get(graph.output)!.shape);
  const g = gaussian(mulberry32(seed));
  const x = Float32Array.from({ length: n * d }, g);
  const y = Int32Array.from({ length: n }, (_, i) => (x[i * d] + x[i * d + 1] > 0 ? 0 : x[i * d + 2] > 0 ? 1 : 2) % classes);
  return { x, y, n, sampleShape: [d], name: 'synthetic', classes };
}

/** Model B = model A with every space permuted by a random permutation, plus small noise. */
function planted(graph: ModelGraph, spec: PermSpec, seed: number, noise: number, adjust: (s: StateDict) => StateDict = (s) => s): { a: StateDict; b: StateDict; truth: Perm[] } {
  const a = adjust(initState(graph, seed));
  const rand = mulberry32(seed + 1);
  const pi = spec.spaces.map((s) => randomPermutation(s.size, rand));
  const g = gaussian(mulberry32(seed + 2));
  const b: StateDict = new Map([...applyPermutations(a, spec, pi)].map(([k, t]) => [k, t.kind === 'float' ? { ...t, data: t.data.map((v) => v + noise * g()) } : t]));
  // aligning B onto A undoes the planted permutation
  return { a, b, truth: pi.map(invertPerm) };
}

const mlpArch = { template: 'mlp', input: [6], widths: [10, 12], classes: 3 } as const;
const mlp = buildGraph(mlpArch);
const mlpSpec = inferPermutationSpec(mlp);
const base = { learningRate: 0.1, patience: 1000, batchSize: 64, seed: 0, maxIterations: 100 };
const sinkhornOpts = (over: Partial<SinkhornOptions>): SinkhornOptions => ({ ...base, maxSteps: 60, temperature: 1, iterations: 30, loss: 'l2', init: 'identity', ...over });
const steOpts = (over: Partial<SteOptions>): SteOptions => ({ ...base, learningRate: 1e-2, maxSteps: 30, ...over });

describe('soft permutations', () => {
  const archs = {
    'mlp bn': { template: 'mlp', input: [7], widths: [5, 4], norm: 'bn', classes: 3 },
    'vgg bn tfjs (channel-minor flatten)': { template: 'vgg', layout: 'tfjs', input: [4, 4, 2], config: [3, 'M', 4], norm: 'bn', classes: 3 },
    'vgg pytorch (channel-major flatten)': { template: 'vgg', input: [2, 4, 4], config: [3, 'M', 4], classes: 3 },
    'resnet20 ln': { template: 'resnet20', input: [3, 8, 8], width: 0.25, blocks: 1, norm: 'ln', classes: 4 },
  } as const;
  for (const [name, arch] of Object.entries(archs)) {
    it(`a 0/1 mixing matrix permutes exactly as applyPermutations does (${name})`, () => {
      const graph = buildGraph(arch);
      const spec = inferPermutationSpec(graph);
      const state = initState(graph, 3);
      const rand = mulberry32(4);
      const perms = spec.spaces.map((s) => randomPermutation(s.size, rand));
      const expected = applyPermutations(state, spec, perms);
      const names = [...state].filter(([, t]) => t.kind === 'float').map(([k]) => k);
      const tensors = uploadTensors(state, names);
      const ps = perms.map((p) => tf.tidy(() => tf.oneHot(tf.tensor1d(p, 'int32'), p.length).toFloat() as tf.Tensor2D));
      const mixed = mixState(tensors, spec, ps);
      for (const n of names) expect(Array.from(mixed.get(n)!.dataSync())).toEqual(Array.from((expected.get(n) as FloatTensor).data));
      [...mixed.values(), ...tensors.values(), ...ps].forEach((t) => t.dispose());
    });

    it(`the differentiable forward pass computes the engine's loss (${name})`, () => {
      const graph = buildGraph(arch);
      const [a, b] = [initState(graph, 5), initState(graph, 6)];
      const data = synthetic(graph, 16, 8);
      const names = [...a].filter(([, t]) => t.kind === 'float').map(([k]) => k);
      const [ta, tb] = [uploadTensors(a, names), uploadTensors(b, names)];
      const x = inputTensor(graph, data.x, data.n);
      const y = tf.tensor1d(data.y, 'int32');
      const loss = interpolationLoss(graph, ta, tb, 0.3, x, y);
      expect(loss.dataSync()[0]).toBeCloseTo(evaluate(graph, lerpStates(a, b, 0.3), data, 16).loss, 5);
      [loss, x, y, ...ta.values(), ...tb.values()].forEach((t) => t.dispose());
    });
  }

  it('log-domain Sinkhorn stays finite on sharp logits and converges on moderate ones', () => {
    const g = gaussian(mulberry32(9));
    for (const [scale, iterations, tolerance] of [[500, 5, Infinity], [2, 100, 1e-5]]) {
      // exp(500) overflows float32: only the log domain survives this
      const logits = tf.tensor2d(Float32Array.from({ length: 64 }, () => scale * g()), [8, 8]);
      const p = tf.tidy(() => tf.exp(logSinkhorn(logits, iterations)));
      const v = p.dataSync();
      for (let i = 0; i < 8; i++) {
        let row = 0, col = 0;
        for (let j = 0; j < 8; j++) { row += v[i * 8 + j]; col += v[j * 8 + i]; }
        expect(Math.abs(col - 1)).toBeLessThan(1e-5);
        expect(Math.abs(row - 1)).toBeLessThan(tolerance);
        expect(Number.isFinite(row)).toBe(true);
      }
      logits.dispose(); p.dispose();
    }
  });

  it('log-domain Sinkhorn differentiates to the same gradient as tf.logSumExp unrolled', () => {
    const g = gaussian(mulberry32(10));
    const x = tf.tensor2d(Float32Array.from({ length: 36 }, g), [6, 6]);
    const w = tf.tensor2d(Float32Array.from({ length: 36 }, g), [6, 6]);
    const reference = (l: tf.Tensor) => { for (let k = 0; k < 4; k++) { l = tf.sub(l, tf.logSumExp(l, 1, true)); l = tf.sub(l, tf.logSumExp(l, 0, true)); } return l; };
    const ours = tf.grad((l: tf.Tensor) => tf.sum(tf.mul(tf.exp(logSinkhorn(l as tf.Tensor2D, 4)), w)))(x).dataSync();
    const theirs = tf.grad((l: tf.Tensor) => tf.sum(tf.mul(tf.exp(reference(l)), w)))(x).dataSync();
    expect(Math.max(...theirs.map(Math.abs))).toBeGreaterThan(1e-2);
    theirs.forEach((v, i) => expect(ours[i]).toBeCloseTo(v, 5));
  });
});

/**
 * Labels from model A's own argmax, its logits scaled up so it is confident: then A is near the best
 * a midpoint can do, and the planted permutation (midpoint ~ A) is the task loss's minimiser. On a
 * random net with unrelated labels a learned method rightly finds a lower-loss wrong permutation.
 */
function teacherLabels(graph: ModelGraph, a: StateDict, data: Dataset): Dataset {
  const model = loadModel(graph, a);
  const x = inputTensor(graph, data.x, data.n);
  const logits = forward(model, x);
  const y = Int32Array.from(tf.tidy(() => tf.argMax(logits, 1)).dataSync());
  [x, logits].forEach((t) => t.dispose());
  model.dispose();
  return { ...data, y };
}
function confident(graph: ModelGraph, state: StateDict, factor: number): StateDict {
  const last = graph.byId.get(graph.output)!.params;
  return new Map([...state].map(([k, t]) => [k, t.kind === 'float' && (k === last.weight.tensor || k === last.bias.tensor) ? { ...t, data: t.data.map((v) => v * factor) } : t]));
}

describe('learned alignment on a planted permutation', () => {
  const { a, b, truth } = planted(mlp, mlpSpec, 21, 0.01, (s) => confident(mlp, s, 10));
  const data = teacherLabels(mlp, a, synthetic(mlp, 128, 5));

  it('sinkhorn (l2, from the identity) recovers it, doubly stochastic before rounding', () => {
    const r = sinkhornRebasin(mlp, mlpSpec, a, b, data, sinkhornOpts({}));
    expect(r.perms.map((p) => Array.from(p))).toEqual(truth.map((p) => Array.from(p)));
    r.logits.forEach((m, s) => {
      const n = mlpSpec.spaces[s].size;
      const p = sinkhornProject(m, n, 1);
      for (let i = 0; i < n; i++) {
        let row = 0, col = 0;
        for (let j = 0; j < n; j++) { row += p[i * n + j]; col += p[j * n + i]; }
        expect(Math.abs(row - 1)).toBeLessThan(1e-6);
        expect(Math.abs(col - 1)).toBeLessThan(1e-6);
        for (let j = 0; j < n; j++) expect(p[i * n + j]).toBeGreaterThanOrEqual(0);
      }
    });
    // the identity start is wrong, so recovering the truth took gradient steps
    expect(r.lossTrace[r.lossTrace.length - 1]).toBeLessThan(r.lossTrace[0] / 2);
  });

  it('sinkhorn with the midpoint task loss recovers it too', () => {
    const r = sinkhornRebasin(mlp, mlpSpec, a, b, data, sinkhornOpts({ loss: 'midpoint', init: 'weight', maxSteps: 10 }));
    expect(r.perms.map((p) => Array.from(p))).toEqual(truth.map((p) => Array.from(p)));
  });

  it('ste recovers it', () => {
    const r = steRebasin(mlp, mlpSpec, a, b, data, steOpts({}));
    expect(r.perms.map((p) => Array.from(p))).toEqual(truth.map((p) => Array.from(p)));
    expect(r.iterations).toBe(30);
    expect(r.lossTrace).toHaveLength(30);
  });
});

describe('gradients flow', () => {
  // two unrelated nets: no permutation makes them equal, so the loss has room to fall
  const a = initState(mlp, 31);
  const b = initState(mlp, 32);
  const data = synthetic(mlp, 256, 7);

  it('sinkhorn l2 loss falls step by step', () => {
    const r = sinkhornRebasin(mlp, mlpSpec, a, b, data, sinkhornOpts({ maxSteps: 20 }));
    expect(r.lossTrace).toHaveLength(20);
    expect(r.lossTrace[19]).toBeLessThan(r.lossTrace[0] * 0.95);
    for (let k = 1; k < 20; k++) expect(r.lossTrace[k]).toBeLessThanOrEqual(r.lossTrace[k - 1] * 1.001);
  });

  it('ste lowers the midpoint loss below where weight matching left it', () => {
    const r = steRebasin(mlp, mlpSpec, a, b, data, steOpts({ maxSteps: 40, learningRate: 0.05, batchSize: 256 }));
    expect(Math.min(...r.lossTrace)).toBeLessThan(r.lossTrace[0] - 1e-3);
  });

  it('leaves no tensors behind', () => {
    const before = tf.memory().numTensors;
    steRebasin(mlp, mlpSpec, a, b, data, steOpts({ maxSteps: 3 }));
    sinkhornRebasin(mlp, mlpSpec, a, b, data, sinkhornOpts({ maxSteps: 3 }));
    sinkhornRebasin(mlp, mlpSpec, a, b, data, sinkhornOpts({ maxSteps: 3, loss: 'random' }));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('cancellation is honoured between steps', () => {
    const controller = new AbortController();
    const run = () => steRebasin(mlp, mlpSpec, a, b, data, steOpts({ signal: controller.signal, onStep: (k) => { if (k === 2) controller.abort(); } }));
    expect(run).toThrow();
  });
});

describe('through runMerge', () => {
  const request = (arch: unknown, alignment: Record<string, unknown>) => LocalMergeRequest.parse({
    models: [{ path: 'a' }, { path: 'b' }, { path: 'c' }], architecture: arch, data: { evaluation: { path: 'e' } }, compute: { batchSize: 32 }, sweep: { points: 3 }, alignment,
  });
  const cases = {
    'resnet20 bn': { template: 'resnet20', input: [3, 8, 8], width: 0.25, blocks: 1, classes: 3 },
    'vgg bn tfjs': { template: 'vgg', layout: 'tfjs', input: [6, 6, 2], config: [4, 'M', 6], norm: 'bn', classes: 3 },
  } as const;
  for (const [name, arch] of Object.entries(cases)) {
    for (const alignment of [{ method: 'ste', maxSteps: 3 }, { method: 'sinkhorn', maxSteps: 3, loss: 'midpoint' }, { method: 'sinkhorn', maxSteps: 3 }]) {
      it(`${alignment.method} ${alignment.loss ?? ''} runs end to end on ${name} (three models, RESET after)`, async () => {
        const options = request(arch, alignment);
        const graph = buildGraph(options.architecture);
        const models = [initState(graph, 1), initState(graph, 2), initState(graph, 3)];
        const data = synthetic(graph, 64, 3);
        const fractions: number[] = [];
        const { report, merged } = await runMerge({ graph, models, evaluation: data, calibration: data, backend: 'cpu', options, onProgress: (stage, f) => { if (stage === 'align') fractions.push(f); } });
        expect(report.alignment.method).toBe(alignment.method);
        expect(report.alignment.iterations).toBe(3);
        expect(report.alignment.lossTrace).toHaveLength(2);
        report.alignment.lossTrace!.forEach((t) => { expect(t).toHaveLength(3); t.forEach((v) => expect(Number.isFinite(v)).toBe(true)); });
        expect(report.variants.repaired!.method).toBe('reset');
        expect(fractions.at(-1)).toBe(1);
        expect(fractions.every((f, i) => i === 0 || f >= fractions[i - 1])).toBe(true);
        for (const t of merged.values()) if (t.kind === 'float') expect(t.data.every(Number.isFinite)).toBe(true);
      });
    }
  }

  it('a net with nothing to permute aligns trivially', async () => {
    const options = request({ input: [4], layers: [{ type: 'linear', name: 'fc', out: 3 }] }, { method: 'sinkhorn', loss: 'midpoint' });
    const graph = buildGraph(options.architecture);
    const data = synthetic(graph, 16, 3);
    for (const method of ['ste', 'sinkhorn'] as const) {
      const { report } = await runMerge({ graph, models: [initState(graph, 1), initState(graph, 2)], evaluation: data, calibration: data, backend: 'cpu', options: { ...options, alignment: { ...options.alignment, method } } });
      expect(report.alignment.iterations).toBe(0);
    }
  });

  it('mergemany is refused for the learned methods', async () => {
    const options = request(mlpArch, { method: 'ste', strategy: 'mergemany' });
    const models = [initState(mlp, 1), initState(mlp, 2), initState(mlp, 3)];
    const data = synthetic(mlp, 32, 3);
    await expect(runMerge({ graph: mlp, models, evaluation: data, calibration: data, backend: 'cpu', options })).rejects.toThrow(expect.objectContaining({ code: 'unsupported_combination' }));
  });
});
describe('request schema', () => {
  it('rejects out-of-range and misplaced learned options', () => {
    const bad = [
      { method: 'ste', maxSteps: 0 },
      { method: 'ste', maxSteps: 1001 },
      { method: 'sinkhorn', patience: 5000 },
      { method: 'ste', learningRate: 0 },
      { method: 'ste', learningRate: -1 },
      { method: 'sinkhorn', temperature: 0 },
      { method: 'sinkhorn', sinkhornIterations: 1000 },
      { method: 'sinkhorn', loss: 'l1' },
      { method: 'ste', temperature: 1 },
      { method: 'weight', maxSteps: 10 },
      { method: 'ste', loss: 'midpoint' },
    ];
    for (const b of bad) expect(AlignmentOptions.safeParse(b).success, JSON.stringify(b)).toBe(false);
    for (const ok of [{ method: 'ste', maxSteps: 10, learningRate: 0.01, patience: 5 }, { method: 'sinkhorn', temperature: 0.5, sinkhornIterations: 10, loss: 'random' }]) {
      expect(AlignmentOptions.safeParse(ok).success, JSON.stringify(ok)).toBe(true);
    }
  });

  it('needs calibration data for ste and for sinkhorn with a task loss only', () => {
    expect(alignmentMethods.ste.needsData({})).toBe(true);
    expect(alignmentMethods.sinkhorn.needsData({})).toBe(false);
    expect(alignmentMethods.sinkhorn.needsData({ loss: 'l2' })).toBe(false);
    expect(alignmentMethods.sinkhorn.needsData({ loss: 'random' })).toBe(true);
  });
});
