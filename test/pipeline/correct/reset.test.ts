import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { buildGraph } from '../../../src/pipeline/model/graph.ts';
import { initState } from '../../../src/pipeline/model/init.ts';
import { lerpStates } from '../../../src/pipeline/model/interpolate.ts';
import { resetBatchNorm } from '../../../src/pipeline/correct/reset.ts';
import { applyPermutations } from '../../../src/pipeline/align/permute.ts';
import { inferPermutationSpec } from '../../../src/pipeline/model/permspec.ts';
import { runMerge } from '../../../src/pipeline/merge.ts';
import { tfjsEngine } from '../../../src/pipeline/runtime/tfjsEngine.ts';
import { LocalMergeRequest } from '../../../src/contracts/index.ts';
import { gaussian, mulberry32, randomPermutation } from '../../../src/pipeline/random.ts';
import type { Dataset } from '../../../src/pipeline/io/datasets.ts';
import type { FloatTensor, StateDict } from '../../../src/pipeline/model/tensor.ts';

const arch = { template: 'mlp', input: [3], widths: [4, 5], norm: 'bn', classes: 2 } as const;
const graph = buildGraph(arch);
const data = (n: number, seed: number): Dataset => {
  const g = gaussian(mulberry32(seed));
  const x = Float32Array.from({ length: n * 3 }, () => 1 + 2 * g());
  return { x, y: Int32Array.from({ length: n }, (_, i) => (x[i * 3] > 1 ? 1 : 0)), n, sampleShape: [3], name: 't', classes: 2 };
};
const f = (s: StateDict, k: string) => Array.from((s.get(k) as FloatTensor).data);

beforeAll(async () => { await tf.setBackend('cpu'); });

describe('RESET', () => {
  it('re-estimates every BatchNorm of the merged net as plain arithmetic does', async () => {
    const a = initState(graph, 1);
    const b = initState(graph, 2);
    const calib = data(64, 3);
    const merged = lerpStates(a, b, 0.5);
    const { state, issues } = await resetBatchNorm(tfjsEngine(1000), graph, merged, calib);
    expect(issues).toEqual([]);
    // by hand: layer 1 pre-activations -> BN1 stats; normalise with them, relu, layer 3 -> BN2 stats
    const W1 = f(merged, 'layers.1.weight'), b1 = f(merged, 'layers.1.bias');
    const W2 = f(merged, 'layers.4.weight'), b2 = f(merged, 'layers.4.bias');
    const g1 = f(merged, 'layers.2.weight'), s1 = f(merged, 'layers.2.bias');
    const stats = (rows: number[][]) => {
      const m = rows[0].map((_, c) => rows.reduce((s, r) => s + r[c], 0) / rows.length);
      const v = rows[0].map((_, c) => rows.reduce((s, r) => s + (r[c] - m[c]) ** 2, 0) / rows.length);
      return { m, v };
    };
    const z1 = Array.from({ length: calib.n }, (_, n) => [0, 1, 2, 3].map((o) => b1[o] + [0, 1, 2].reduce((s, i) => s + W1[o * 3 + i] * calib.x[n * 3 + i], 0)));
    const st1 = stats(z1);
    const h1 = z1.map((r) => r.map((v, c) => Math.max(0, ((v - st1.m[c]) / Math.sqrt(st1.v[c] + 1e-5)) * g1[c] + s1[c])));
    const z2 = h1.map((h) => [0, 1, 2, 3, 4].map((o) => b2[o] + h.reduce((s, v, i) => s + W2[o * 4 + i] * v, 0)));
    const st2 = stats(z2);
    const unbiased = (v: number[]) => v.map((x) => (x * calib.n) / (calib.n - 1));
    f(state, 'layers.2.running_mean').forEach((v, c) => expect(v).toBeCloseTo(st1.m[c], 4));
    f(state, 'layers.2.running_var').forEach((v, c) => expect(v).toBeCloseTo(unbiased(st1.v)[c], 4));
    f(state, 'layers.5.running_mean').forEach((v, c) => expect(v).toBeCloseTo(st2.m[c], 4));
    f(state, 'layers.5.running_var').forEach((v, c) => expect(v).toBeCloseTo(unbiased(st2.v)[c], 4));
    // weights are untouched
    expect(f(state, 'layers.1.weight')).toEqual(W1);
  });
});

describe('N-model merges', () => {
  const base = initState(graph, 7);
  const spec = inferPermutationSpec(graph);
  const g = gaussian(mulberry32(8));
  const noisy = (s: StateDict) => new Map([...s].map(([k, t]) => [k, t.kind === 'float' ? { ...t, data: t.data.map((v) => v + 1e-3 * g()) } : t])) as StateDict;
  const models = [base, ...[1, 2].map((seed) => applyPermutations(noisy(base), spec, spec.spaces.map((s) => randomPermutation(s.size, mulberry32(100 + seed)))))];
  const options = (strategy: string) => LocalMergeRequest.parse({
    models: models.map(() => ({ path: 'x' })), architecture: arch, data: { evaluation: { path: 'e' } },
    alignment: { method: 'weight', strategy }, repair: { method: 'reset' }, sweep: { points: 3 },
  });
  for (const strategy of ['first', 'mergemany']) {
    it(`${strategy}: three shuffled copies align back onto the first model`, async () => {
      const { report, merged } = await runMerge({ graph, models, evaluation: data(50, 4), calibration: data(50, 5), backend: 'cpu', options: options(strategy) });
      expect(report.models).toBe(3);
      expect(report.merged.alpha).toBeCloseTo(2 / 3, 12);
      // aligned copies are the first model up to noise, so the uniform average is too
      for (const [k, t] of base) if (t.kind === 'float' && !/running/.test(k)) f(merged, k).forEach((v, i) => expect(Math.abs(v - t.data[i])).toBeLessThan(1e-2));
      expect(report.variants.aligned!.barrier.loss.max).toBeLessThan(1e-3);
      expect(report.alignment.identityFraction!.length).toBe(2);
    });
  }
});
