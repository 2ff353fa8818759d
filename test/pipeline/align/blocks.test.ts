import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { assignedScore, assignUnit, permutationUnits, randomSpecPermutations } from '../../../src/pipeline/align/blocks.ts';
import { activationMatching } from '../../../src/pipeline/align/activationMatching.ts';
import { alignmentMethods } from '../../../src/pipeline/align/methods.ts';
import { applyPermutations, invertPerm, type Perm } from '../../../src/pipeline/align/permute.ts';
import { weightMatching } from '../../../src/pipeline/align/weightMatching.ts';
import type { Dataset } from '../../../src/pipeline/io/datasets.ts';
import { sizeOf } from '../../../src/pipeline/layers/shape.ts';
import { forward, inputTensor, loadModel } from '../../../src/pipeline/model/forward.ts';
import { buildGraph, type ModelGraph } from '../../../src/pipeline/model/graph.ts';
import { initState } from '../../../src/pipeline/model/init.ts';
import { inferPermutationSpec, type PermSpec } from '../../../src/pipeline/model/permspec.ts';
import type { StateDict } from '../../../src/pipeline/model/tensor.ts';
import { gaussian, mulberry32 } from '../../../src/pipeline/random.ts';
import { ortEngine } from '../../../src/pipeline/runtime/ortEngine.ts';
import { tfjsEngine } from '../../../src/pipeline/runtime/tfjsEngine.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

/** every permutation of 0..n-1 */
function* permutations(n: number): Generator<number[]> {
  if (n === 0) { yield []; return; }
  for (const rest of permutations(n - 1)) for (let i = 0; i <= rest.length; i++) yield [...rest.slice(0, i), n - 1, ...rest.slice(i)];
}

/** A block permutation from a block order and each block's inner order. */
const compose = (order: number[], inner: number[][], size: number): Perm => Int32Array.from({ length: order.length * size }, (_, k) => order[Math.floor(k / size)] * size + inner[Math.floor(k / size)][k % size]);

/** Checks that a permutation moves blocks of `size` as wholes; returns where each block goes. */
function blockOrder(p: Perm, size: number): number[] {
  const order = Array.from({ length: p.length / size }, (_, a) => Math.floor(p[a * size] / size));
  p.forEach((v, k) => expect(Math.floor(v / size), `unit ${k} leaves its block`).toBe(order[Math.floor(k / size)]));
  return order;
}

describe('block assignment', () => {
  it('is exact: the best block-structured assignment of two spaces, checked against every candidate', () => {
    const [groups, size] = [3, 2];
    const n = groups * size;
    for (const seed of [1, 2, 3]) {
      const g = gaussian(mulberry32(seed));
      const costs = [Float64Array.from({ length: n * n }, g), Float64Array.from({ length: n * n }, g)];
      const got = assignUnit({ spaces: [0, 1], block: { groups, groupSize: size } }, costs);
      expect(blockOrder(got[0], size)).toEqual(blockOrder(got[1], size));
      let best = -Infinity;
      const inners = [...permutations(size)];
      for (const order of permutations(groups)) {
        // given the block order the spaces' inner choices are independent: maximise each block of each space
        let total = 0;
        for (const cost of costs) {
          for (let a = 0; a < groups; a++) {
            total += Math.max(...inners.map((inner) => inner.reduce((s, j, i) => s + cost[(a * size + i) * n + order[a] * size + j], 0)));
          }
        }
        best = Math.max(best, total);
      }
      expect(assignedScore(costs[0], got[0]) + assignedScore(costs[1], got[1])).toBeCloseTo(best, 10);
      // a free assignment of the first space scores at least as much: blocks are a constraint
      const free = assignUnit({ spaces: [0] }, [costs[0]]);
      expect(assignedScore(costs[0], free[0])).toBeGreaterThanOrEqual(assignedScore(costs[0], got[0]) - 1e-12);
    }
  });

  it('units: each free space alone, each block constraint once, in space order; a space in two constraints is refused', () => {
    const spec = { spaces: Array.from({ length: 5 }, (_, i) => ({ name: `P${i}`, size: 4, axes: [], nodes: [], inner: [] })), spaceOfNode: new Map(), blocks: [{ spaces: [1, 3], groups: 2, groupSize: 2 }] } as PermSpec;
    expect(permutationUnits(spec)).toEqual([{ spaces: [0] }, { spaces: [1, 3], block: { groups: 2, groupSize: 2 } }, { spaces: [2] }, { spaces: [4] }]);
    expect(() => permutationUnits({ ...spec, blocks: [...spec.blocks, { spaces: [3, 4], groups: 2, groupSize: 2 }] })).toThrow(/tied by two block constraints/);
  });

  it('random spec permutations keep each unit\'s blocks together', () => {
    const spec = inferPermutationSpec(vit('timm'));
    const perms = randomSpecPermutations(spec, mulberry32(3));
    for (const b of spec.blocks) expect(blockOrder(perms[b.spaces[0]], b.groupSize)).toEqual(blockOrder(perms[b.spaces[1]], b.groupSize));
    expect(compose([1, 0], [[1, 0], [0, 1]], 2)).toEqual(Int32Array.of(3, 2, 0, 1));
  });
});

const vit = (naming: 'timm' | 'hf', heads = 3) => buildGraph({ template: 'vit', input: [2, 8, 8], patch: 4, dim: 12, depth: 2, heads, mlpHidden: 10, classes: 4, naming });

function logits(graph: ModelGraph, state: StateDict, x: Float32Array, n: number): Float32Array {
  const model = loadModel(graph, state);
  const input = inputTensor(graph, x, n);
  const y = forward(model, input);
  const out = y.dataSync() as Float32Array;
  tf.dispose([y, input]);
  model.dispose();
  return out;
}

/** A ViT and a block-permuted copy of it, with small noise on the copy. */
function pair(graph: ModelGraph, seed: number, noise: number): { spec: PermSpec; a: StateDict; b: StateDict; truth: Perm[] } {
  const spec = inferPermutationSpec(graph);
  const a = initState(graph, seed);
  const truth = randomSpecPermutations(spec, mulberry32(seed + 1));
  const g = gaussian(mulberry32(seed + 2));
  const b: StateDict = new Map([...applyPermutations(a, spec, truth)].map(([k, t]) => [k, t.kind === 'float' ? { ...t, data: t.data.map((v) => v + noise * g()) } : t]));
  return { spec, a, b, truth };
}
const inverse = (perms: Perm[]) => perms.map((p) => Array.from(invertPerm(p)));
const data = (graph: ModelGraph, n: number): Dataset => {
  const x = Float32Array.from({ length: n * sizeOf(graph.input) }, gaussian(mulberry32(5)));
  return { x, y: new Int32Array(n), n, sampleShape: [2, 8, 8], name: 'noise', classes: 4 };
};

describe('matching ViTs with heads as blocks', () => {
  for (const naming of ['timm', 'hf'] as const) {
    it(`weight matching recovers a planted permutation of every space, heads and inner units included (${naming})`, () => {
      const graph = vit(naming);
      const { spec, a, b, truth } = pair(graph, 1, 1e-3);
      const r = weightMatching(spec, a, b, { seed: 0, maxIterations: 20 });
      expect(r.perms.map((p) => Array.from(p))).toEqual(inverse(truth));
    });
  }

  for (const engineName of ['tfjs', 'onnxruntime'] as const) {
    it(`activation matching recovers it from q, k, v, the MLP hidden units and the stream after each add (${engineName} engine)`, async () => {
      const graph = vit('timm');
      const { spec, a, b, truth } = pair(graph, 2, 0);
      const engine = engineName === 'tfjs' ? tfjsEngine(32) : await ortEngine({ threads: 1, memoryMB: 256 });
      const r = await activationMatching(engine, graph, spec, a, b, data(graph, 64));
      expect(r.perms.map((p) => Array.from(p))).toEqual(inverse(truth));
    });
  }

  it('the blocks are real: moving q/k units across heads, or heads of q/k without v, changes the function', () => {
    const graph = vit('timm');
    const spec = inferPermutationSpec(graph);
    const state = initState(graph, 4);
    const x = Float32Array.from({ length: 3 * 128 }, gaussian(mulberry32(6)));
    const base = logits(graph, state, x, 3);
    const worst = (perms: Perm[]) => { const y = logits(graph, applyPermutations(state, spec, perms), x, 3); return Math.max(...y.map((v, i) => Math.abs(v - base[i]))); };
    const id = spec.spaces.map((s) => Int32Array.from({ length: s.size }, (_, i) => i));
    const [qk] = spec.blocks[0].spaces;
    const crossHead = id.map((p, s) => (s === qk ? Int32Array.from(p).fill(4, 0, 1).fill(0, 4, 5) : p));
    const headsOfQkOnly = id.map((p, s) => (s === qk ? compose([1, 0, 2], [[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3]], 4) : p));
    const inside = id.map((p, s) => (spec.blocks[0].spaces.includes(s) ? compose([1, 2, 0], [[3, 2, 1, 0], [0, 1, 2, 3], [1, 0, 3, 2]], 4) : p));
    expect(worst(crossHead)).toBeGreaterThan(1e-3);
    expect(worst(headsOfQkOnly)).toBeGreaterThan(1e-3);
    expect(worst(inside)).toBeLessThan(1e-5);
  });

  it('every alignment method runs on a ViT and returns block-respecting permutations; Sinkhorn keeps the heads where weight matching put them', async () => {
    const graph = vit('timm');
    const { spec, a, b } = pair(graph, 3, 0.05);
    const calibration = data(graph, 32);
    const ctx = { graph, spec, models: [a, b], calibration, engine: tfjsEngine(16), batchSize: 16, seed: 0, maxIterations: 5, strategy: 'first' as const, progress: () => {}, learned: { maxSteps: 3, patience: 3 } };
    const wm = (await alignmentMethods.weight.align(ctx)).perms[1];
    for (const method of ['weight', 'activation', 'ste', 'sinkhorn'] as const) {
      const perms = (await alignmentMethods[method].align(ctx)).perms[1];
      for (const blk of spec.blocks) expect(blockOrder(perms[blk.spaces[0]], blk.groupSize), method).toEqual(blockOrder(perms[blk.spaces[1]], blk.groupSize));
      if (method === 'sinkhorn') for (const s of spec.blocks.flatMap((blk) => blk.spaces)) expect(Array.from(perms[s])).toEqual(Array.from(wm[s]));
    }
  });
});
