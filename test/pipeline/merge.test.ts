import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { LocalMergeRequest } from '../../src/contracts/index.ts';
import { buildGraph } from '../../src/pipeline/model/graph.ts';
import { initState } from '../../src/pipeline/model/init.ts';
import { runMerge } from '../../src/pipeline/merge.ts';
import { tfjsEngine } from '../../src/pipeline/runtime/tfjsEngine.ts';
import { inferPermutationSpec } from '../../src/pipeline/model/permspec.ts';
import { applyPermutations, invertPerm } from '../../src/pipeline/align/permute.ts';
import { weightMatching } from '../../src/pipeline/align/weightMatching.ts';
import { activationMatching } from '../../src/pipeline/align/activationMatching.ts';
import { gaussian, mulberry32, randomPermutation } from '../../src/pipeline/random.ts';
import type { Dataset } from '../../src/pipeline/io/datasets.ts';
import type { FloatTensor, StateDict } from '../../src/pipeline/model/tensor.ts';

/*
 * A tiny MLP (4 -> 6 -> 5 -> 3, ReLU) computed independently in plain Float64 arithmetic:
 * forward, interpolation, REPAIR statistics and fusion, loss/accuracy, barriers. The engine
 * (tfjs, float32) must agree to 1e-4.
 */
const arch = { template: 'mlp', input: [4], widths: [6, 5], classes: 3 } as const;
const graph = buildGraph(arch);
type Mat = number[][];

function synthetic(n: number, seed: number): Dataset {
  const g = gaussian(mulberry32(seed));
  const x = Float32Array.from({ length: n * 4 }, g);
  const y = Int32Array.from({ length: n }, (_, i) => (x[i * 4] + x[i * 4 + 1] > 0 ? 0 : x[i * 4 + 2] > 0 ? 1 : 2));
  return { x, y, n, sampleShape: [4], name: 'synthetic', classes: 3 };
}

const get = (s: StateDict, k: string) => s.get(k) as FloatTensor;
const toMat = (t: FloatTensor): Mat => Array.from({ length: t.shape[0] }, (_, i) => Array.from(t.data.slice(i * t.shape[1], (i + 1) * t.shape[1])));
interface Plain { W: Mat[]; b: number[][] }
const plain = (s: StateDict): Plain => ({
  W: ['layers.1', 'layers.3', 'layers.5'].map((l) => toMat(get(s, `${l}.weight`))),
  b: ['layers.1', 'layers.3', 'layers.5'].map((l) => Array.from(get(s, `${l}.bias`).data)),
});
const lerp = (a: Plain, b: Plain, t: number): Plain => ({
  W: a.W.map((m, l) => m.map((row, i) => row.map((v, j) => (1 - t) * v + t * b.W[l][i][j]))),
  b: a.b.map((v, l) => v.map((x, i) => (1 - t) * x + t * b.b[l][i])),
});
const affine = (W: Mat, b: number[], h: number[]) => W.map((row, i) => row.reduce((s, w, j) => s + w * h[j], b[i]));
const relu = (v: number[]) => v.map((x) => Math.max(0, x));
/** pre-activations at every layer for every sample */
function preacts(p: Plain, ds: Dataset): number[][][] {
  const out: number[][][] = [[], [], []];
  for (let n = 0; n < ds.n; n++) {
    let h = Array.from(ds.x.slice(n * 4, n * 4 + 4));
    p.W.forEach((W, l) => { const z = affine(W, p.b[l], h); out[l].push(z); h = relu(z); });
  }
  return out;
}
const colStats = (rows: number[][]) => {
  const m = rows[0].map((_, c) => rows.reduce((s, r) => s + r[c], 0) / rows.length);
  const v = rows[0].map((_, c) => rows.reduce((s, r) => s + (r[c] - m[c]) ** 2, 0) / rows.length);
  return { m, sd: v.map(Math.sqrt), v };
};
function lossAcc(p: Plain, ds: Dataset) {
  const logits = preacts(p, ds)[2];
  let loss = 0, correct = 0;
  logits.forEach((z, n) => {
    const mx = Math.max(...z);
    const lse = mx + Math.log(z.reduce((s, v) => s + Math.exp(v - mx), 0));
    loss += lse - z[ds.y[n]];
    if (z.indexOf(mx) === ds.y[n]) correct++;
  });
  return { loss: loss / ds.n, acc: correct / ds.n };
}
/** REPAIR by hand: sites are the two hidden pre-activations, corrected in order. */
function repairPlain(m: Plain, a: Plain, b: Plain, t: number, ds: Dataset): Plain {
  const out: Plain = { W: m.W.map((w) => w.map((r) => [...r])), b: m.b.map((v) => [...v]) };
  const [pa, pb] = [preacts(a, ds), preacts(b, ds)];
  for (const l of [0, 1]) {
    const sa = colStats(pa[l]), sb = colStats(pb[l]);
    const cur = colStats(preacts(out, ds)[l]);
    out.W[l].forEach((row, c) => {
      const mu = (1 - t) * sa.m[c] + t * sb.m[c];
      const sd = (1 - t) * sa.sd[c] + t * sb.sd[c];
      const g = sd / Math.sqrt(cur.v[c] + 1e-5);
      out.W[l][c] = row.map((w) => w * g);
      out.b[l][c] = mu + g * (out.b[l][c] - cur.m[c]);
    });
  }
  return out;
}
const chordMax = (alphas: number[], v: number[], sign: number) => Math.max(...alphas.map((a, i) => sign * (v[i] - ((1 - a) * v[0] + a * v[v.length - 1]))));

const options = (over: Record<string, unknown>) => LocalMergeRequest.parse({
  models: [{ path: 'a' }, { path: 'b' }], architecture: arch, data: { evaluation: { path: 'e' } }, compute: { batchSize: 1000 }, ...over,
});

beforeAll(async () => { await tf.setBackend('cpu'); });

describe('merge engine on a tiny MLP, against plain arithmetic', () => {
  const a = initState(graph, 11);
  const b = initState(graph, 22);
  const evalSet = synthetic(200, 5);
  const calib = synthetic(150, 6);

  it('sweep, REPAIR statistics and barriers agree to 1e-4', async () => {
    const { report, merged } = await runMerge({ graph, models: [a, b], evaluation: evalSet, calibration: calib, backend: 'cpu', options: options({ alignment: { method: 'none' }, repair: { method: 'repair' }, sweep: { points: 5 } }) });
    const [pa, pb] = [plain(a), plain(b)];
    expect(report.alphas).toEqual([0, 0.25, 0.5, 0.75, 1]);
    const naive = report.alphas.map((t) => lossAcc(lerp(pa, pb, t), evalSet));
    const repaired = report.alphas.map((t) => lossAcc(repairPlain(lerp(pa, pb, t), pa, pb, t, calib), evalSet));
    naive.forEach((r, i) => {
      expect(report.variants.naive.loss[i]).toBeCloseTo(r.loss, 4);
      expect(report.variants.naive.accuracy[i]).toBeCloseTo(r.acc, 6);
    });
    repaired.forEach((r, i) => expect(report.variants.repaired!.loss[i]).toBeCloseTo(r.loss, 4));
    const nl = naive.map((r) => r.loss);
    expect(report.variants.naive.barrier.loss.max).toBeCloseTo(chordMax(report.alphas, nl, 1), 4);
    expect(report.variants.naive.barrier.loss.mid).toBeCloseTo(nl[2] - (nl[0] + nl[4]) / 2, 4);
    const na = naive.map((r) => r.acc);
    expect(report.variants.naive.barrier.accuracy.max).toBeCloseTo(chordMax(report.alphas, na, -1), 6);
    // the returned weights are the repaired midpoint, tensor by tensor
    const want = repairPlain(lerp(pa, pb, 0.5), pa, pb, 0.5, calib);
    const got = plain(merged);
    for (let l = 0; l < 3; l++) {
      want.W[l].forEach((row, i) => row.forEach((w, j) => expect(got.W[l][i][j]).toBeCloseTo(w, 4)));
      want.b[l].forEach((v, i) => expect(got.b[l][i]).toBeCloseTo(v, 4));
    }
    expect(report.merged).toEqual({ alpha: 0.5, variant: 'repaired' });
    expect(report.reduction.alignment).toBeNull();
  });

  it('weight and activation matching recover a planted permutation', async () => {
    const spec = inferPermutationSpec(graph);
    const rand = mulberry32(9);
    const planted = spec.spaces.map((s) => randomPermutation(s.size, rand));
    const g = gaussian(mulberry32(10));
    const noisy: StateDict = new Map([...a].map(([k, t]) => [k, t.kind === 'float' ? { ...t, data: t.data.map((v) => v + 1e-3 * g()) } : t]));
    // B = A with its hidden units shuffled: channel i of B is channel inv[i] of A
    const inverse = planted.map(invertPerm);
    const shuffled = applyPermutations(noisy, spec, inverse);
    const wm = weightMatching(spec, a, shuffled, { seed: 0, maxIterations: 100 });
    expect(wm.perms.map((p) => Array.from(p))).toEqual(planted.map((p) => Array.from(p)));
    const am = await activationMatching(tfjsEngine(64), graph, spec, a, shuffled, calib);
    expect(am.perms.map((p) => Array.from(p))).toEqual(planted.map((p) => Array.from(p)));
  });

  it('refuses requests it cannot honour with a named error, before any work', async () => {
    const run = (over: Record<string, unknown>) => runMerge({ graph, models: [a, b], evaluation: evalSet, calibration: calib, backend: 'cpu', options: options(over) });
    await expect(run({ alignment: { method: 'none' }, output: { variant: 'aligned' } })).rejects.toThrow(/variant_not_computed|output.variant "aligned" is not computed/);
    await expect(run({ repair: { method: 'reset' } })).rejects.toThrow(expect.objectContaining({ code: 'reset_requires_batchnorm' }));
    await expect(runMerge({ graph, models: [a], evaluation: evalSet, calibration: calib, backend: 'cpu', options: options({}) })).rejects.toThrow(expect.objectContaining({ code: 'too_few_models' }));
  });
});
