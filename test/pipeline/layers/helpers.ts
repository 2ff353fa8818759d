import { beforeAll, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { forward, inputTensor, loadModel, type ForwardOptions } from '../../../src/pipeline/model/forward.ts';
import { buildGraph, type ModelGraph } from '../../../src/pipeline/model/graph.ts';
import { initState } from '../../../src/pipeline/model/init.ts';
import { describeAxis, inferPermutationSpec } from '../../../src/pipeline/model/permspec.ts';
import type { FloatTensor, StateDict } from '../../../src/pipeline/model/tensor.ts';

/** Layer-kind tests run on tfjs's pure-JS cpu backend, the reference the others are checked against. */
export const useCpu = () => beforeAll(async () => { await tf.setBackend('cpu'); });

export const net = (input: number[], layers: unknown[], layout: 'pytorch' | 'tfjs' = 'pytorch'): ModelGraph => buildGraph({ layout, input, layers });

/** A checkpoint for `graph`: the given tensors (row-major, checkpoint layout), the rest freshly initialised. */
export function stateOf(graph: ModelGraph, values: Record<string, number[]> = {}, seed = 1): StateDict {
  const state = initState(graph, seed);
  for (const [name, data] of Object.entries(values)) {
    const t = state.get(name) as FloatTensor | undefined;
    if (!t) throw new Error(`the graph reads no tensor ${name}`);
    expect(data.length, name).toBe(t.data.length);
    state.set(name, { ...t, data: Float32Array.from(data) });
  }
  return state;
}

/** The engine's output of node `until` (default: the logits) for samples `x` in the layout's order. */
export function run(graph: ModelGraph, state: StateDict, x: number[], n: number, options: ForwardOptions = {}): { shape: number[]; data: number[] } {
  const model = loadModel(graph, state);
  const input = inputTensor(graph, Float32Array.from(x), n);
  try {
    const y = forward(model, input, options);
    const out = { shape: y.shape, data: Array.from(y.dataSync()) };
    y.dispose();
    return out;
  } finally {
    input.dispose();
    model.dispose();
  }
}

export function expectClose(got: number[], want: number[], tol = 1e-5): void {
  expect(got.length).toBe(want.length);
  got.forEach((v, i) => expect(Math.abs(v - want[i]), `entry ${i}: ${v} vs ${want[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(want[i]))));
}

/** The inferred spec as data: per space its size, its axes as `tensor:axis` (x repeat, channel-minor marked) and its nodes. */
export function spaces(graph: ModelGraph) {
  return inferPermutationSpec(graph).spaces.map((s) => ({
    size: s.size,
    axes: s.axes.map((a) => `${describeAxis(a)}${a.repeat > 1 ? ` x${a.repeat}${a.channelMajor ? '' : ' minor'}` : ''}`),
    nodes: s.nodes,
  }));
}

/** Mean and variance of a float tensor's entries. */
export function moments(t: FloatTensor): { mean: number; variance: number; maxAbs: number } {
  const n = t.data.length;
  const mean = t.data.reduce((a, v) => a + v, 0) / n;
  const variance = t.data.reduce((a, v) => a + (v - mean) ** 2, 0) / n;
  return { mean, variance, maxAbs: t.data.reduce((a, v) => Math.max(a, Math.abs(v)), 0) };
}

/** Kaiming-uniform on +-1/sqrt(fanIn), as PyTorch starts Linear and Conv2d: its bound, a mean near 0 and variance bound^2/3. */
export function expectKaimingUniform(t: FloatTensor, fanIn: number): void {
  const bound = 1 / Math.sqrt(fanIn);
  const m = moments(t);
  expect(m.maxAbs).toBeLessThanOrEqual(bound);
  expect(m.maxAbs).toBeGreaterThan(0.9 * bound);
  const sd = bound / Math.sqrt(3);
  expect(Math.abs(m.mean)).toBeLessThan((4 * sd) / Math.sqrt(t.data.length));
  expect(m.variance / (sd * sd)).toBeGreaterThan(0.9);
  expect(m.variance / (sd * sd)).toBeLessThan(1.1);
}

export const seq = (n: number, f: (i: number) => number = (i) => i) => Array.from({ length: n }, (_, i) => f(i));
