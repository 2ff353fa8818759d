import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node entry registers no gradient functions; the umbrella package's Node bundle
// does (tfjs-core's own ESM copy of them cannot be loaded by Node's resolver). Training needs them.
import '@tensorflow/tfjs';
import type { GpuProbe } from './host.ts';
import { readTensor } from './linalg.ts';

/**
 * TensorFlow.js backend selection (DESIGN 4.6): native CUDA, native CPU, wasm, then pure-JS cpu.
 * Each candidate must pass a numeric smoke test before it is used, so a backend that loads but
 * computes wrong numbers is skipped, never trusted.
 */
export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
export interface BackendInfo { name: string; tried: { name: string; ok: boolean; reason?: string }[] }

const DEFAULT_ORDER: BackendName[] = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'];
/** the tfjs backend each candidate registers */
const TFJS_NAME: Record<string, string> = { 'tensorflow-gpu': 'tensorflow', tensorflow: 'tensorflow', webgpu: 'webgpu', wasm: 'wasm', cpu: 'cpu' };
let current: { key: string; info: BackendInfo } | undefined;

/** Dynamic import by a computed name: optional packages must not be resolved at build or bundle time. */
async function importOptional(name: string): Promise<unknown> {
  const specifier = name;
  try {
    return await import(specifier);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') throw new Error(`${name} is not installed`);
    throw e;
  }
}

/** Load one candidate and make it the active backend; throws if it cannot be loaded. */
async function activate(name: string, hasGpuDevice: GpuProbe | undefined): Promise<void> {
  switch (name) {
    case 'tensorflow-gpu':
      await importOptional('@tensorflow/tfjs-node-gpu');
      if (!(await tf.setBackend('tensorflow'))) throw new Error('tfjs-node-gpu did not register its backend');
      return;
    case 'tensorflow':
      await importOptional('@tensorflow/tfjs-node');
      if (!(await tf.setBackend('tensorflow'))) throw new Error('tfjs-node did not register its backend');
      return;
    case 'webgpu': {
      // Dawn prints loader warnings on hosts with no GPU at all: ask the host first
      if (hasGpuDevice && !hasGpuDevice()) throw new Error('no GPU device (the host found none)');
      // Dawn for Node provides navigator.gpu; tfjs-backend-webgpu registers itself only where that exists
      const dawn = (await importOptional('webgpu')) as { create(flags: string[]): { requestAdapter(o?: object): Promise<unknown> }; globals: object };
      const gpu = dawn.create([]);
      if (!(await gpu.requestAdapter({ powerPreference: 'high-performance' }))) throw new Error('no WebGPU adapter (no GPU, or no Vulkan driver)');
      Object.assign(globalThis, dawn.globals);
      if (!(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true });
      await importOptional('@tensorflow/tfjs-backend-webgpu');
      if (!(await tf.setBackend('webgpu'))) throw new Error('webgpu backend failed to initialise');
      return;
    }
    case 'wasm': {
      // the wasm package installs process-wide handlers that re-throw: one stray rejection would kill a server
      const before = { rejection: process.listeners('unhandledRejection'), exception: process.listeners('uncaughtException') };
      let ok: boolean;
      try {
        await import('@tensorflow/tfjs-backend-wasm');
        ok = await tf.setBackend('wasm');
      } finally {
        for (const l of process.listeners('unhandledRejection')) if (!before.rejection.includes(l)) process.removeListener('unhandledRejection', l);
        for (const l of process.listeners('uncaughtException')) if (!before.exception.includes(l)) process.removeListener('uncaughtException', l);
      }
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
      // any other backend already registered with tfjs (a plug-in, or a test double)
      if (!tf.findBackendFactory(name)) throw new Error(`unknown backend "${name}"`);
      if (!(await tf.setBackend(name))) throw new Error(`${name} backend failed to initialise`);
  }
}

/** NHWC conv2d of one image in plain JS: x [H,W,ci], k [kh,kw,ci,co], symmetric numeric padding. */
function referenceConv(x: number[], [h, w, ci]: number[], k: number[], [kh, kw, co]: number[], stride: number, pad: number): number[] {
  const oh = Math.floor((h + 2 * pad - kh) / stride) + 1;
  const ow = Math.floor((w + 2 * pad - kw) / stride) + 1;
  const out: number[] = [];
  for (let r = 0; r < oh; r++) for (let c = 0; c < ow; c++) for (let o = 0; o < co; o++) {
    let s = 0;
    for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
      const rr = r * stride + i - pad;
      const cc = c * stride + j - pad;
      if (rr < 0 || rr >= h || cc < 0 || cc >= w) continue;
      for (let q = 0; q < ci; q++) s += x[(rr * w + cc) * ci + q] * k[((i * kw + j) * ci + q) * co + o];
    }
    out.push(s);
  }
  return out;
}

/**
 * Numeric smoke test of the active backend: matMul plain and with each operand transposed, and a
 * strided, zero-padded, multi-channel conv2d (the forms the pipeline uses), against answers computed
 * in plain JS. Throws, naming the op and both answers, when the backend computes something else.
 */
export function smokeTest(): void {
  const close = (u: ArrayLike<number>, v: number[]) => u.length === v.length && v.every((w, i) => Math.abs(u[i] - w) <= 1e-4 * (1 + Math.abs(w)));
  const check = (what: string, got: ArrayLike<number>, want: number[]) => {
    if (!close(got, want)) throw new Error(`${what} smoke test failed: got [${Array.from(got)}], want [${want}]`);
  };
  const transpose = (v: number[], rows: number, cols: number) => Array.from({ length: v.length }, (_, k) => v[(k % rows) * cols + Math.floor(k / rows)]);
  // A [3,4] · B [4,2], passed as is and transposed
  const a = [1, 2, 3, 4, 5, 6, -1, 0.5, 2, -3, 1, 0];
  const b = [0.5, -1, 2, 0, 1, 3, -2, 1.5];
  const ab: number[] = [];
  for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) ab.push([0, 1, 2, 3].reduce((s, q) => s + a[i * 4 + q] * b[q * 2 + j], 0));
  const at = transpose(a, 3, 4);
  const bt = transpose(b, 4, 2);
  check('matMul', readTensor(() => tf.matMul(tf.tensor2d(a, [3, 4]), tf.tensor2d(b, [4, 2]))), ab);
  check('matMul (transposeA)', readTensor(() => tf.matMul(tf.tensor2d(at, [4, 3]), tf.tensor2d(b, [4, 2]), true, false)), ab);
  check('matMul (transposeB)', readTensor(() => tf.matMul(tf.tensor2d(a, [3, 4]), tf.tensor2d(bt, [2, 4]), false, true)), ab);
  // conv2d: 5x5 image with 2 channels, 3x3 kernel to 3 channels, stride 2, padding 1
  const x = Array.from({ length: 50 }, (_, i) => ((i * 7) % 11) - 5);
  const k = Array.from({ length: 54 }, (_, i) => ((i * 5) % 9) / 4 - 1);
  check('conv2d', readTensor(() => tf.conv2d(tf.tensor4d(x, [1, 5, 5, 2]), tf.tensor4d(k, [3, 3, 2, 3]), 2, 1)), referenceConv(x, [5, 5, 2], k, [3, 3, 3], 2, 1));
}

/**
 * Pick the first backend that loads and passes the smoke test. Order: `prefer`, else the
 * BASIN_BACKEND environment variable (comma list), else native GPU, native CPU, wasm, cpu.
 * `hasGpuDevice` (nodeHost's on Node) is asked before a GPU backend that would print driver
 * warnings on a machine without one. Idempotent: a second call with the same order returns the
 * first result. Throws when no candidate works, naming each and why.
 */
export async function initBackend(options?: { prefer?: string[]; hasGpuDevice?: GpuProbe }): Promise<BackendInfo> {
  const env = process.env.BASIN_BACKEND?.split(',').map((s) => s.trim()).filter(Boolean);
  const order = options?.prefer ?? (env?.length ? env : DEFAULT_ORDER);
  const key = order.join(',');
  if (current && current.key === key) {
    // same request: same answer; switch back if someone changed the active backend meanwhile
    const want = TFJS_NAME[current.info.name] ?? current.info.name;
    if (tf.getBackend() !== want) await tf.setBackend(want);
    return current.info;
  }
  const tried: BackendInfo['tried'] = [];
  for (const name of order) {
    try {
      await activate(name, options?.hasGpuDevice);
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

/** The active backend: the candidate name initBackend chose while it is active, else tfjs's name for it. */
export function currentBackend(): string {
  const active = tf.getBackend();
  return current && (TFJS_NAME[current.info.name] ?? current.info.name) === active ? current.info.name : active;
}
