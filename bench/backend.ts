/**
 * Backend throughput: `npx tsx bench/backend.ts [--quick] [--only wasm,cpu]`.
 *
 * Prints GFLOP/s of matMul with every transpose combination, of an MLP layer's three products, of
 * conv2d forward, its two gradients (Conv2DBackpropInput / Conv2DBackpropFilter) and a whole
 * forward+backward through tf.grads, and milliseconds of the other kernels training leans on
 * (Tile, the pool gradients, BatchNorm's gradient):
 *   wasm  @tensorflow/tfjs-backend-wasm as shipped ("raw") against the same backend with basin's
 *         kernel fixes (src/pipeline/runtime/wasmKernels.ts). The two kernel sets are swapped in the registry
 *         between runs and timed alternately (raw, fixed, raw, ...), so a busy machine slows both alike;
 *   cpu   the pure-JS backend, on smaller problems with one timed run (it is 30-1000x slower).
 * Each figure is the median of several runs after a warm-up. Figures only: nothing here asserts a time.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/pipeline/runtime/backend.ts';

const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string', default: 'wasm,cpu' } } });
const only = new Set(args.only.split(',').map((s) => s.trim()));
const FIXED = ['BatchMatMul', '_FusedMatMul', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'Tile', 'AvgPoolGrad', 'MaxPoolGrad'];

type Mode = 'raw' | 'fixed';
const kernels: Record<Mode, Map<string, tf.KernelConfig | undefined>> = { raw: new Map(), fixed: new Map() };
/** Register one kernel set (no-op off wasm). */
function use(mode: Mode): void {
  if (tf.getBackend() !== 'wasm') return;
  for (const [name, config] of kernels[mode]) {
    if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
    if (config) tf.registerKernel(config);
  }
}

/** Run `f`; the time in ms, or the first line of its error. */
function once(f: () => void): number | string {
  try {
    const t0 = performance.now();
    f();
    return performance.now() - t0;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

/** Median ms of each mode's run of `f`, alternating modes; a string where that mode throws. */
function timeModes(modes: Mode[], f: () => void, minReps: number, budgetMs = 6000): (number | string)[] {
  const times: number[][] = modes.map(() => []);
  const failed: (string | undefined)[] = modes.map(() => undefined);
  const start = performance.now();
  // one warm-up run (rep -1), except where a single timed run is asked for (the slow cpu backend)
  for (let rep = minReps > 1 ? -1 : 0; rep < 15; rep++) {
    modes.forEach((m, k) => {
      if (failed[k] !== undefined) return;
      use(m);
      const t = once(f);
      if (typeof t === 'string') failed[k] = t;
      else if (rep >= 0) times[k].push(t);
    });
    if (rep + 1 >= minReps && performance.now() - start > budgetMs) break;
  }
  use('fixed');
  return modes.map((_, k) => failed[k] ?? median(times[k]));
}

/** Run a kernel by name, read its outputs back (so the time is the whole computation) and free them. */
function kernel(name: string, inputs: tf.NamedTensorMap, attrs: object): () => void {
  return () => {
    const out = tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];
    for (const t of [out].flat()) { t.dataSync(); t.dispose(); }
  };
}

function header(cols: string[]): void {
  console.log(['what'.padEnd(30), 'shape'.padEnd(24), ...cols.map((c) => c.padStart(13))].join(' '));
}

function measure(modes: Mode[], minReps: number, what: string, shape: string, gflop: number | undefined, f: () => void): void {
  const res = timeModes(modes, f, minReps);
  const cells: string[] = [];
  for (const r of res) {
    if (typeof r === 'string') cells.push('-'.padStart(13), '-'.padStart(13));
    else cells.push(r.toFixed(1).padStart(13), (gflop === undefined ? '' : (gflop / (r / 1000)).toFixed(2)).padStart(13));
  }
  if (res.length === 2 && typeof res[0] === 'number' && typeof res[1] === 'number') cells.push(`${(res[0] / res[1]).toFixed(1)}x`.padStart(9));
  const errors = res.filter((r): r is string => typeof r === 'string').map((r) => `(${r.slice(0, 70)})`);
  console.log([what.padEnd(30), shape.padEnd(24), ...cells, ...errors].join(' '));
}

function suite(modes: Mode[], small: boolean): void {
  const reps = small ? 1 : 3;
  const m = (what: string, shape: string, gflop: number | undefined, f: () => void) => measure(modes, reps, what, shape, gflop, f);
  // matMul, every transpose combination
  const n = small || args.quick ? 512 : 1024;
  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
    const a = tf.randomNormal([1, n, n]);
    const b = tf.randomNormal([1, n, n]);
    m(`matMul ${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}`, `${n}x${n}x${n}`, (2 * n ** 3) / 1e9, kernel('BatchMatMul', { a, b }, { transposeA: ta, transposeB: tb }));
    tf.dispose([a, b]);
  }
  // an MLP layer's training step: x·W, dW = x^T·dy, dx = dy·W^T (batch 128, 784 -> 512)
  {
    const x = tf.randomNormal([1, 128, 784]);
    const w = tf.randomNormal([1, 784, 512]);
    const dy = tf.randomNormal([1, 128, 512]);
    const g = (2 * 128 * 784 * 512) / 1e9;
    m('dense fwd x·W', '128x784 · 784x512', g, kernel('BatchMatMul', { a: x, b: w }, { transposeA: false, transposeB: false }));
    m('dense dW = x^T·dy', '784x128 · 128x512', g, kernel('BatchMatMul', { a: x, b: dy }, { transposeA: true, transposeB: false }));
    m('dense dx = dy·W^T', '128x512 · 512x784', g, kernel('BatchMatMul', { a: dy, b: w }, { transposeA: false, transposeB: true }));
    tf.dispose([x, w, dy]);
  }
  // conv2d 3x3, 32 -> 64 channels at 32x32, stride 1 and 2
  const batch = small ? 2 : args.quick ? 16 : 64;
  for (const stride of [1, 2]) {
    const [ci, co] = [32, 64];
    const x = tf.randomNormal([batch, 32, 32, ci]) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, ci, co]) as tf.Tensor4D;
    const y = tf.conv2d(x, w, stride, 'same');
    const dy = tf.randomNormal(y.shape);
    const g = (2 * batch * y.shape[1] * y.shape[2] * 9 * ci * co) / 1e9;
    const shape = `${batch}x32x32x${ci}->${co} s${stride}`;
    const conv = { strides: stride, pad: 'same', dataFormat: 'NHWC', dilations: 1 };
    m('conv2d forward', shape, g, kernel('Conv2D', { x, filter: w }, conv));
    m('conv2d dx (BackpropInput)', shape, g, kernel('Conv2DBackpropInput', { dy, filter: w }, { ...conv, inputShape: x.shape }));
    m('conv2d dW (BackpropFilter)', shape, g, kernel('Conv2DBackpropFilter', { x, dy }, { ...conv, filterShape: w.shape }));
    m('conv2d fwd+bwd (tf.grads)', shape, 3 * g, () => tf.tidy(() => {
      const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, 'same'), dy)))([x, w]);
      gx.dataSync();
      gw.dataSync();
    }));
    tf.dispose([x, w, y, dy]);
  }
  // memory-bound kernels of training: time only (GFLOP/s means little here)
  {
    const x = tf.randomNormal([batch, 32, 32, 64]) as tf.Tensor4D;
    const shape = `${batch}x32x32x64`;
    const c = tf.randomNormal([1, 1, 1, 64]);
    m('Tile [1,1,1,C] to x', shape, undefined, kernel('Tile', { x: c }, { reps: [batch, 32, 32, 1] }));
    m('Mul x * [C] (for scale)', shape, undefined, kernel('Multiply', { a: x, b: c }, {}));
    const pool = { filterSize: 2, strides: 2, pad: 'valid', dimRoundingMode: undefined };
    const pooled = tf.maxPool(x, 2, 2, 'valid');
    const dp = tf.randomNormal(pooled.shape);
    m('MaxPoolGrad 2x2 s2', shape, undefined, kernel('MaxPoolGrad', { dy: dp, input: x, output: pooled }, pool));
    m('AvgPoolGrad 2x2 s2', shape, undefined, kernel('AvgPoolGrad', { dy: dp, input: x }, pool));
    const mean = tf.randomNormal([64]);
    const variance = tf.randomUniform([64], 0.5, 2);
    const scale = tf.randomNormal([64]);
    const offset = tf.randomNormal([64]);
    m('batchNorm fwd+bwd (tf.grads)', shape, undefined, () => tf.tidy(() => {
      tf.grads((a: tf.Tensor, s: tf.Tensor) => tf.sum(tf.batchNorm(a, mean, variance, offset, s, 1e-5)))([x, scale]).forEach((t) => t.dataSync());
    }));
    tf.dispose([x, c, pooled, dp, mean, variance, scale, offset]);
  }
}

if (only.has('wasm')) {
  // the backend as shipped: register it and note its kernels before initBackend installs the fixes
  const before = { rejection: process.listeners('unhandledRejection'), exception: process.listeners('uncaughtException') };
  await import('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend('wasm'))) throw new Error('wasm did not initialise');
  for (const l of process.listeners('unhandledRejection')) if (!before.rejection.includes(l)) process.removeListener('unhandledRejection', l);
  for (const l of process.listeners('uncaughtException')) if (!before.exception.includes(l)) process.removeListener('uncaughtException', l);
  for (const name of FIXED) kernels.raw.set(name, tf.getKernel(name, 'wasm'));
  const info = await initBackend({ prefer: ['wasm'] });
  if (info.name !== 'wasm') throw new Error(`wasm unavailable: ${JSON.stringify(info.tried)}`);
  for (const name of FIXED) kernels.fixed.set(name, tf.getKernel(name, 'wasm'));
  console.log('wasm: as shipped (raw) and with basin\'s kernel fixes (fixed), timed alternately; ms and GFLOP/s');
  header(['raw ms', 'raw GFLOP/s', 'fixed ms', 'fixed GFLOP/s', 'speedup']);
  suite(['raw', 'fixed'], false);
}
if (only.has('cpu')) {
  await initBackend({ prefer: ['cpu'] });
  console.log('\ncpu (pure JS), smaller problems; ms and GFLOP/s');
  header(['ms', 'GFLOP/s']);
  suite(['fixed'], true);
}
