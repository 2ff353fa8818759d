import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node entry registers no gradient functions; the umbrella package's Node bundle
// does (tfjs-core's own ESM copy of them cannot be loaded by Node's resolver). Training needs them.
import '@tensorflow/tfjs';
import { readTensor } from './linalg.ts';

/**
 * TensorFlow.js backend selection (DESIGN 4.6): native CUDA, native CPU, wasm, then pure-JS cpu.
 * Each candidate must pass a numeric smoke test before it is used, so a backend that loads but
 * computes wrong numbers is skipped, never trusted.
 */
export interface BackendInfo { name: string; tried: { name: string; ok: boolean; reason?: string }[] }

const DEFAULT_ORDER = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];
let current: { key: string; info: BackendInfo } | undefined;

/** Dynamic import by a computed name: optional native packages must not be resolved at build time. */
async function importOptional(name: string): Promise<void> {
  const specifier = name;
  await import(specifier);
}

/** Load one candidate and make it the active backend; throws if it cannot be loaded. */
async function activate(name: string): Promise<void> {
  switch (name) {
    case 'tensorflow-gpu':
      await importOptional('@tensorflow/tfjs-node-gpu');
      if (!(await tf.setBackend('tensorflow'))) throw new Error('tfjs-node-gpu did not register its backend');
      return;
    case 'tensorflow':
      await importOptional('@tensorflow/tfjs-node');
      if (!(await tf.setBackend('tensorflow'))) throw new Error('tfjs-node did not register its backend');
      return;
    case 'wasm': {
      // the wasm package installs process-wide handlers that re-throw: one stray rejection would kill a server
      const before = { rejection: process.listeners('unhandledRejection'), exception: process.listeners('uncaughtException') };
      await import('@tensorflow/tfjs-backend-wasm');
      const ok = await tf.setBackend('wasm');
      for (const l of process.listeners('unhandledRejection')) if (!before.rejection.includes(l)) process.removeListener('unhandledRejection', l);
      for (const l of process.listeners('uncaughtException')) if (!before.exception.includes(l)) process.removeListener('uncaughtException', l);
      if (!ok) throw new Error('wasm backend failed to initialise');
      const { installWasmKernelFixes } = await import('./wasmKernels.ts');
      installWasmKernelFixes();
      return;
    }
    case 'cpu':
      await import('@tensorflow/tfjs-backend-cpu');
      if (!(await tf.setBackend('cpu'))) throw new Error('cpu backend failed to initialise');
      return;
    default:
      throw new Error(`unknown backend "${name}"`);
  }
}

/** A matMul with a transpose and a strided, padded conv2d against answers computed in plain JS. */
export function smokeTest(): void {
  const a = [1, 2, 3, 4, 5, 6];
  const b = [0.5, -1, 2, 0, 1, 3];
  // a [2,3] · b^T where b is [2,3]
  const want = [1 * 0.5 - 2 + 6, 0 + 2 + 9, 4 * 0.5 - 5 + 12, 0 + 5 + 18];
  const got = readTensor(() => tf.matMul(tf.tensor2d(a, [2, 3]), tf.tensor2d(b, [2, 3]), false, true));
  const x = Array.from({ length: 16 }, (_, i) => i - 5);
  const k = [1, -2, 0.5, 3];
  // conv 4x4 input, 2x2 kernel, stride 2, no padding, one channel in and out
  const conv: number[] = [];
  for (const [r, c] of [[0, 0], [0, 2], [2, 0], [2, 2]]) conv.push(x[r * 4 + c] * k[0] + x[r * 4 + c + 1] * k[1] + x[(r + 1) * 4 + c] * k[2] + x[(r + 1) * 4 + c + 1] * k[3]);
  const gotConv = readTensor(() => tf.conv2d(tf.tensor4d(x, [1, 4, 4, 1]), tf.tensor4d(k, [2, 2, 1, 1]), 2, 'valid'));
  const close = (u: ArrayLike<number>, v: number[]) => u.length === v.length && v.every((w, i) => Math.abs(u[i] - w) <= 1e-4 * (1 + Math.abs(w)));
  if (!close(got, want)) throw new Error(`matMul smoke test failed: got [${Array.from(got)}], want [${want}]`);
  if (!close(gotConv, conv)) throw new Error(`conv2d smoke test failed: got [${Array.from(gotConv)}], want [${conv}]`);
}

/**
 * Pick the first backend that loads and passes the smoke test. Order: `prefer`, else the
 * BASIN_BACKEND environment variable (comma list), else native GPU, native CPU, wasm, cpu.
 */
export async function initBackend(options?: { prefer?: string[] }): Promise<BackendInfo> {
  const env = process.env.BASIN_BACKEND?.split(',').map((s) => s.trim()).filter(Boolean);
  const order = options?.prefer ?? (env?.length ? env : DEFAULT_ORDER);
  const key = order.join(',');
  if (current && current.key === key) return current.info;
  const tried: BackendInfo['tried'] = [];
  for (const name of order) {
    try {
      await activate(name);
      smokeTest();
      tried.push({ name, ok: true });
      current = { key, info: { name, tried } };
      return current.info;
    } catch (e) {
      tried.push({ name, ok: false, reason: (e as Error).message.split('\n')[0] });
    }
  }
  throw new Error(`no usable TensorFlow.js backend: ${tried.map((t) => `${t.name} (${t.reason})`).join('; ')}`);
}

export function currentBackend(): string {
  return tf.getBackend();
}
