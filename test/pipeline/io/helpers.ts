import { isAbsolute, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { openPath } from '../../../src/cli/files.ts';
import { checkpointShapes, openCheckpoint, readFinite, type Checkpoint } from '../../../src/pipeline/io/checkpoint.ts';
import { readSafetensors } from '../../../src/pipeline/io/safetensors.ts';
import { fileSource, nodeHost } from '../../../src/pipeline/runtime/nodeHost.ts';
import { EngineError } from '../../../src/pipeline/errors.ts';
import { buildGraph } from '../../../src/pipeline/model/graph.ts';
import { forward, inputTensor, loadModel } from '../../../src/pipeline/model/forward.ts';
import type { FloatTensor, StateDict } from '../../../src/pipeline/model/tensor.ts';

export const FIXTURES = resolve(import.meta.dirname, '..', '..', 'fixtures', 'checkpoints');
export const fixture = (...p: string[]) => join(FIXTURES, ...p);

/** `code: message` of the engine error a promise rejects with (as the CLI prints it), or 'no error'. */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof EngineError) return `${e.code}: ${e.message}`;
    throw e;
  }
  return 'no error';
}

/** A fixture file, folder or archive opened as the CLI opens it. */
export async function openFixture(...p: string[]): Promise<Checkpoint> {
  return openCheckpoint(await openPath(fixture(...p)), p.join('/'), nodeHost.archives);
}

/** What PyTorch (or tfjs) computed for a fixture (a name, or an absolute path stem): inputs `x` and `logits` (or softmax `probs`). */
export async function expectedOutputs(name: string): Promise<{ x: FloatTensor; y: FloatTensor; probs: boolean }> {
  const src = await fileSource(`${isAbsolute(name) ? name : fixture(name)}.expected.safetensors`);
  try {
    const { tensors } = await readSafetensors(src);
    const y = (tensors.get('logits') ?? tensors.get('probs')) as FloatTensor;
    return { x: tensors.get('x') as FloatTensor, y, probs: !tensors.has('logits') };
  } finally {
    await src.close?.();
  }
}

/** Every tensor the architecture reads, checked finite. */
export async function loadState(ck: Checkpoint, arch: unknown): Promise<StateDict> {
  const graph = buildGraph(arch, checkpointShapes(ck));
  const state: StateDict = new Map();
  for (const [name, e] of graph.expected) if (!e.optional || ck.tensors.has(name)) state.set(name, await readFinite(ck, name, 'test'));
  return state;
}

/** basin's forward pass (cpu backend) of a checkpoint under an architecture. */
export async function basinLogits(ck: Checkpoint, arch: unknown, x: FloatTensor): Promise<Float32Array> {
  await tf.setBackend('cpu');
  const graph = buildGraph(arch, checkpointShapes(ck));
  const model = loadModel(graph, await loadState(ck, arch));
  const input = inputTensor(graph, x.data, x.shape[0]);
  const y = forward(model, input);
  const out = y.dataSync() as Float32Array;
  tf.dispose([y, input]);
  model.dispose();
  return out;
}

export function softmaxRows(logits: Float32Array, width: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length / width; r++) {
    const row = logits.subarray(r * width, (r + 1) * width);
    const max = Math.max(...row);
    let sum = 0;
    for (let i = 0; i < width; i++) sum += (out[r * width + i] = Math.exp(row[i] - max));
    for (let i = 0; i < width; i++) out[r * width + i] /= sum;
  }
  return out;
}

/** Largest |a - b| relative to 1 + |b|: float32 forward passes of the same net agree to about 1e-5. */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return m;
}
