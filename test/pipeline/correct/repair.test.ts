import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { buildGraph, type ModelGraph } from '../../../src/pipeline/model/graph.ts';
import { initState } from '../../../src/pipeline/model/init.ts';
import { inferPermutationSpec } from '../../../src/pipeline/model/permspec.ts';
import { repairSites, repairState, type SiteTargets } from '../../../src/pipeline/correct/repair.ts';
import { gaussian, mulberry32 } from '../../../src/pipeline/random.ts';
import type { Dataset } from '../../../src/pipeline/io/datasets.ts';
import { tfjsEngine } from '../../../src/pipeline/runtime/tfjsEngine.ts';
import type { FloatTensor, StateDict } from '../../../src/pipeline/model/tensor.ts';

/*
 * REPAIR's guards (DESIGN 4.4): a site whose correction would be numerically unsafe is refused,
 * left as interpolated and named, never folded into a NaN or exploded model. Each case below is
 * built so that exactly one guard fires; without that guard the site would be "corrected" into
 * non-finite or absurd weights, or refused under another code, and the test fails.
 */
const mlp = buildGraph({ template: 'mlp', input: [2], widths: [3], classes: 2 });
const site = 'layers.1';

beforeAll(async () => { await tf.setBackend('cpu'); });

function data(n: number, scale: number): Dataset {
  const g = gaussian(mulberry32(5));
  return { x: Float32Array.from({ length: 2 * n }, () => scale * g()), y: new Int32Array(n), n, sampleShape: [2], name: 'd', classes: 2 };
}
const targets = (mean: number[], std: number[]) => new Map<string, SiteTargets>([[site, { mean: Float64Array.from(mean), std: Float64Array.from(std) }]]);
function withTensor(state: StateDict, name: string, fill: (i: number) => number): StateDict {
  const t = state.get(name) as FloatTensor;
  return new Map(state).set(name, { ...t, data: t.data.map((_, i) => fill(i)) });
}
const data32 = (s: StateDict, name: string) => Array.from((s.get(name) as FloatTensor).data);

async function repair(graph: ModelGraph, merged: StateDict, t: Map<string, SiteTargets>, ds: Dataset) {
  const { state, issues } = await repairState(tfjsEngine(64), graph, merged, t, ds);
  return { state, codes: issues.map((i) => [i.site, i.code]) };
}

describe('REPAIR guards', () => {
  const base = initState(mlp, 1);

  it('corrects a healthy site (the cases below differ from it in one thing each)', async () => {
    const { state, codes } = await repair(mlp, base, targets([0, 1, 2], [1, 1, 1]), data(64, 1));
    expect(codes).toEqual([]);
    expect(data32(state, `${site}.weight`)).not.toEqual(data32(base, `${site}.weight`));
  });

  it('huge_gain: a channel whose merged variance collapsed is refused, not scaled by 30000', async () => {
    // channel 0 ignores its inputs: constant output, variance 0, gain = 100 / sqrt(1e-5)
    const merged = withTensor(base, `${site}.weight`, (i) => (i < 2 ? 0 : 0.5));
    const { state, codes } = await repair(mlp, merged, targets([0, 0, 0], [100, 1, 1]), data(64, 1));
    expect(codes).toEqual([[site, 'huge_gain']]);
    expect(data32(state, `${site}.weight`)).toEqual(data32(merged, `${site}.weight`));
    expect(data32(state, `${site}.bias`)).toEqual(data32(merged, `${site}.bias`));
  });

  it('non_finite_stats: activations that overflow float32 are refused', async () => {
    const merged = withTensor(base, `${site}.weight`, () => 3e38);
    const { state, codes } = await repair(mlp, merged, targets([0, 0, 0], [1, 1, 1]), data(64, 10));
    expect(codes).toEqual([[site, 'non_finite_stats']]);
    expect(data32(state, `${site}.weight`)).toEqual(data32(merged, `${site}.weight`));
  });

  it('non_finite_result: finite statistics whose fold overflows the weights are refused', async () => {
    // all-zero inputs: the site outputs its bias (finite, variance 0, gain about 316); 316 x 3e38 overflows
    const merged = withTensor(base, `${site}.weight`, () => 3e38);
    const zeros: Dataset = { ...data(16, 1), x: new Float32Array(32) };
    const { state, codes } = await repair(mlp, merged, targets([0, 0, 0], [1, 1, 1]), zeros);
    expect(codes).toEqual([[site, 'non_finite_result']]);
    expect(data32(state, `${site}.weight`).every(Number.isFinite)).toBe(true);
  });

  it('non_finite_target: parents whose statistics are not finite give no target', async () => {
    const { state, codes } = await repair(mlp, base, targets([0, NaN, 0], [1, 1, 1]), data(64, 1));
    expect(codes).toEqual([[site, 'non_finite_target']]);
    expect(data32(state, `${site}.weight`)).toEqual(data32(base, `${site}.weight`));
  });

  it('cannot_fold: a site without a bias to absorb the shift is refused (and the merge goes on)', async () => {
    const graph = buildGraph({ layout: 'pytorch', input: [2], layers: [{ type: 'linear', name: '0', out: 3, bias: false }, { type: 'relu' }, { type: 'linear', name: '2', out: 2 }] });
    expect(repairSites(graph, inferPermutationSpec(graph), { logits: false }).map((n) => n.id)).toEqual(['0']);
    const state = initState(graph, 2);
    const r = await repairState(tfjsEngine(64), graph, state, new Map([['0', { mean: Float64Array.of(0, 0, 0), std: Float64Array.of(1, 1, 1) }]]), data(32, 1));
    expect(r.issues.map((i) => [i.site, i.code])).toEqual([['0', 'cannot_fold']]);
    expect(r.state.get('0.weight')).toBe(state.get('0.weight'));
  });
});

describe('REPAIR sites', () => {
  it('hidden linear/conv outputs of plain and LayerNorm nets, BatchNorm outputs of BatchNorm nets, the logits on request', () => {
    const sites = (arch: unknown, logits = false) => {
      const graph = buildGraph(arch);
      return repairSites(graph, inferPermutationSpec(graph), { logits }).map((n) => n.id);
    };
    expect(sites({ template: 'mlp', input: [4], widths: [5, 6], classes: 2 })).toEqual(['layers.1', 'layers.3']);
    expect(sites({ template: 'mlp', input: [4], widths: [5, 6], classes: 2 }, true)).toEqual(['layers.1', 'layers.3', 'layers.5']);
    expect(sites({ template: 'mlp', input: [4], widths: [5], norm: 'ln', classes: 2 })).toEqual(['layers.1']);
    expect(sites({ template: 'mlp', input: [4], widths: [5, 6], norm: 'bn', classes: 2 })).toEqual(['layers.2', 'layers.5']);
  });
});
