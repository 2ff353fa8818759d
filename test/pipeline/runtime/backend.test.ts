import { createRequire } from 'node:module';
import { describe, it, expect, beforeAll, afterEach } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { currentBackend, initBackend, smokeTest } from '../../../src/pipeline/runtime/backend.ts';
import { gaussian, mulberry32 } from '../../../src/pipeline/random.ts';

/**
 * The native packages are optional dependencies that install only where libtensorflow can be
 * downloaded: these tests ask which ones this host has rather than assume.
 */
const NATIVE = { 'tensorflow-gpu': '@tensorflow/tfjs-node-gpu', tensorflow: '@tensorflow/tfjs-node' } as const;
const require = createRequire(import.meta.url);
const installed = (pkg: string) => { try { require.resolve(pkg); return true; } catch { return false; } };
const absentNative = (Object.keys(NATIVE) as (keyof typeof NATIVE)[]).filter((name) => !installed(NATIVE[name]));

/** Run `f` on the cpu backend and on wasm (with basin's kernel fixes) and return both results. */
async function onBoth(f: () => tf.Tensor | tf.Tensor[]): Promise<[Float32Array[], Float32Array[]]> {
  const read = () => {
    const ts = tf.tidy(() => [f()].flat());
    const out = ts.map((t) => t.dataSync() as Float32Array);
    tf.dispose(ts);
    return out;
  };
  await tf.setBackend('cpu');
  const ref = read();
  await tf.setBackend('wasm');
  const got = read();
  return [ref, got];
}

/** every output within `tol` of the reference, relative to the reference's largest magnitude */
function close(ref: Float32Array[], got: Float32Array[], tol = 1e-4) {
  expect(got.length).toBe(ref.length);
  ref.forEach((x, k) => {
    expect(got[k].length).toBe(x.length);
    let worst = 0;
    let scale = 0;
    x.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - got[k][i])); scale = Math.max(scale, Math.abs(v)); });
    expect(worst / (scale + 1e-12)).toBeLessThan(tol);
  });
}

const rnd = (shape: number[], seed: number) => { const g = gaussian(mulberry32(seed)); return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, g), shape); };

const listeners = () => ({ rejection: process.listeners('unhandledRejection'), exception: process.listeners('uncaughtException') });
let before: ReturnType<typeof listeners>;

beforeAll(async () => {
  before = listeners();
  const info = await initBackend({ prefer: ['wasm'] });
  expect(info.name).toBe('wasm');
  await import('@tensorflow/tfjs-backend-cpu');
});

afterEach(async () => {
  await tf.setBackend('wasm');
});

describe('backend chain', () => {
  it('removes the process-wide exception handlers the wasm package installs', () => {
    const after = listeners();
    expect(after.rejection).toEqual(before.rejection);
    expect(after.exception).toEqual(before.exception);
  });

  it('falls back past candidates that are not installed or unknown, and records why', async () => {
    const info = await initBackend({ prefer: [...absentNative, 'nonexistent', 'cpu'] });
    expect(info.name).toBe('cpu');
    expect(currentBackend()).toBe('cpu');
    expect(info.tried.map((t) => [t.name, t.ok])).toEqual([...absentNative.map((n) => [n, false]), ['nonexistent', false], ['cpu', true]]);
    absentNative.forEach((name, i) => expect(info.tried[i].reason).toBe(`${NATIVE[name]} is not installed`));
    expect(info.tried[absentNative.length].reason).toMatch(/unknown backend "nonexistent"/);
    expect(() => smokeTest()).not.toThrow();
  });

  it('skips a backend that loads but computes wrong numbers', async () => {
    // a cpu backend under another name whose matMul doubles its answer
    tf.registerBackend('broken', () => new MathBackendCPU());
    const copied = tf.getKernelsForBackend('cpu').map((k) => k.kernelName);
    for (const k of tf.getKernelsForBackend('cpu')) {
      if (k.kernelName !== 'BatchMatMul') { tf.registerKernel({ ...k, backendName: 'broken' }); continue; }
      tf.registerKernel({
        ...k,
        backendName: 'broken',
        kernelFunc: (args) => {
          const out = k.kernelFunc(args) as tf.TensorInfo;
          const values = (args.backend as MathBackendCPU).data.get(out.dataId)!.values as Float32Array;
          values.forEach((v, i) => { values[i] = 2 * v; });
          return out;
        },
      });
    }
    try {
      const info = await initBackend({ prefer: ['broken', 'cpu'] });
      expect(info.name).toBe('cpu');
      expect(info.tried[0]).toMatchObject({ name: 'broken', ok: false });
      expect(info.tried[0].reason).toMatch(/^matMul smoke test failed: got \[.*\], want \[/);
    } finally {
      await tf.setBackend('cpu');
      tf.removeBackend('broken');
      for (const name of copied) tf.unregisterKernel(name, 'broken');
    }
  });

  it('throws naming every candidate when none works', async () => {
    await expect(initBackend({ prefer: ['nonexistent', 'missing-too'] })).rejects.toThrow('no usable TensorFlow.js backend: nonexistent (unknown backend "nonexistent"); missing-too (unknown backend "missing-too")');
  });

  it('asks the host before loading a GPU backend, and skips it where the host sees no device', async () => {
    let asked = 0;
    const info = await initBackend({ prefer: ['webgpu', 'cpu'], hasGpuDevice: () => { asked++; return false; } });
    expect(asked).toBe(1);
    expect(info.name).toBe('cpu');
    expect(info.tried[0]).toEqual({ name: 'webgpu', ok: false, reason: 'no GPU device (the host found none)' });
  });

  it('takes its order from BASIN_BACKEND', async () => {
    const saved = process.env.BASIN_BACKEND;
    process.env.BASIN_BACKEND = ' nonexistent , wasm';
    try {
      const info = await initBackend();
      expect(info.tried.map((t) => t.name)).toEqual(['nonexistent', 'wasm']);
      expect(info.name).toBe('wasm');
    } finally {
      if (saved === undefined) delete process.env.BASIN_BACKEND;
      else process.env.BASIN_BACKEND = saved;
    }
  });

  it('is idempotent and restores its backend when called again', async () => {
    const first = await initBackend({ prefer: ['nonexistent', 'wasm'] });
    await tf.setBackend('cpu');
    const second = await initBackend({ prefer: ['nonexistent', 'wasm'] });
    expect(second).toBe(first);
    expect(tf.getBackend()).toBe('wasm');
    expect(currentBackend()).toBe('wasm');
  });
});

describe('wasm kernel fixes agree with the cpu backend', () => {
  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
    it(`matMul transposeA=${ta} transposeB=${tb}: plain, batched, broadcast batch, fused with bias and relu`, async () => {
      const [r, g] = await onBoth(() => {
        const a = rnd(ta ? [7, 5] : [5, 7], 1);
        const b = rnd(tb ? [3, 7] : [7, 3], 2);
        const ba = rnd(ta ? [2, 7, 5] : [2, 5, 7], 3);
        const bb = rnd(tb ? [2, 3, 7] : [2, 7, 3], 4);
        const b1 = rnd(tb ? [1, 3, 7] : [1, 7, 3], 5);
        const fused = tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, transposeA: ta, transposeB: tb, bias: rnd([3], 6), activation: 'relu' });
        return [tf.matMul(a, b, ta, tb), tf.matMul(ba, bb, ta, tb), tf.matMul(ba, b1, ta, tb), fused];
      });
      close(r, g);
    });
  }

  it('many small batched products (attention heads: q k^T, weights x v) and their gradients', async () => {
    const [r, g] = await onBoth(() => {
      const [q, k, v] = [rnd([6, 4, 17, 16], 30), rnd([6, 4, 17, 16], 31), rnd([6, 4, 17, 16], 32)];
      const attend = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) => tf.matMul(tf.softmax(tf.matMul(qq, kk, false, true)), vv);
      return [attend(q, k, v), ...tf.grads((qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) => tf.sum(tf.square(attend(qq, kk, vv))))([q, k, v])];
    });
    close(r, g);
  });

  it('transposed matMul is bit-identical to the untransposed kernel on transposed inputs', () => {
    const [x, y] = tf.tidy(() => {
      const a = rnd([33, 17], 7);
      const b = rnd([41, 33], 8);
      return [tf.matMul(a, b, true, true).dataSync(), tf.matMul(a.transpose(), b.transpose()).dataSync()];
    });
    expect(Array.from(x)).toEqual(Array.from(y));
  });

  it('matMul and fused matMul gradients (an MLP layer)', async () => {
    const [r, g] = await onBoth(() => {
      const x = rnd([6, 5], 9);
      const w = rnd([5, 4], 10);
      const bias = rnd([4], 11);
      const m = rnd([6, 4], 12);
      const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(tf.fused.matMul({ a: xx as tf.Tensor2D, b: ww as tf.Tensor2D, bias: bb, activation: 'relu' }), m));
      return tf.grads(f)([x, w, bias]);
    });
    close(r, g);
  });

  const convCases: [string, number[], number[], number | [number, number], 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]]][] = [
    ['3x3 stride 1 same', [3, 9, 8, 4], [3, 3, 4, 5], 1, 'same'],
    ['3x3 stride 1 valid', [3, 9, 8, 4], [3, 3, 4, 5], 1, 'valid'],
    ['3x3 stride 2 same', [3, 9, 8, 4], [3, 3, 4, 5], 2, 'same'],
    ['3x3 stride 2 valid', [3, 9, 8, 4], [3, 3, 4, 5], 2, 'valid'],
    ['3x3 stride 1 pad 1', [3, 9, 8, 4], [3, 3, 4, 5], 1, 1],
    ['3x3 stride 2 pad 1', [2, 9, 9, 4], [3, 3, 4, 5], 2, 1],
    ['3x3 stride 1 pad 0', [3, 9, 8, 4], [3, 3, 4, 5], 1, 0],
    ['3x3 stride 1 pad 3 (wider than the kernel)', [2, 5, 5, 3], [3, 3, 3, 4], 1, 3],
    ['1x1 stride 2 valid, odd size (a ResNet shortcut)', [2, 9, 9, 4], [1, 1, 4, 6], 2, 'valid'],
    ['5x5 stride 2 same', [2, 9, 9, 3], [5, 5, 3, 4], 2, 'same'],
    ['2x2 stride 1 same (uneven padding)', [2, 9, 10, 3], [2, 2, 3, 4], 1, 'same'],
    ['3x2 stride [1,2] same', [2, 9, 10, 3], [3, 2, 3, 4], [1, 2], 'same'],
    ['3x3 stride 3 valid', [2, 10, 11, 3], [3, 3, 3, 4], 3, 'valid'],
    ['3x3 explicit asymmetric padding', [2, 9, 10, 3], [3, 3, 3, 4], 1, [[0, 0], [2, 0], [0, 1], [0, 0]]],
  ];
  for (const [name, xs, ws, stride, pad] of convCases) {
    it(`conv2d gradients (filter and input): ${name}`, async () => {
      const [r, g] = await onBoth(() => {
        const x = rnd(xs, 13) as tf.Tensor4D;
        const w = rnd(ws, 14) as tf.Tensor4D;
        const m = rnd(tf.conv2d(x, w, stride, pad).shape, 15);
        const f = (xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, stride, pad), m));
        return tf.grads(f)([x, w]);
      });
      close(r, g);
    });
  }

  it('Tile (float and int), batchNorm gradient, pool gradients', async () => {
    const [r, g] = await onBoth(() => {
      const x = rnd([2, 6, 6, 3], 16) as tf.Tensor4D;
      const c = rnd([3], 17);
      const outs: tf.Tensor[] = [
        tf.tile(rnd([1, 1, 1, 3], 18), [2, 3, 4, 1]),
        tf.tile(rnd([2, 1, 3], 19), [1, 4, 2]),
        tf.tile(rnd([2, 3], 20), [3, 2]),
        tf.tile(tf.tensor1d([1, 2, 3], 'int32'), [2]).cast('float32'),
      ];
      const bn = (xx: tf.Tensor, s: tf.Tensor) => tf.sum(tf.mul(tf.batchNorm(xx, rnd([3], 21), tf.abs(rnd([3], 22)).add(0.5), rnd([3], 23), s, 1e-5), x));
      outs.push(...tf.grads(bn)([x, c]));
      for (const [k, s, pad] of [[2, 2, 'valid'], [3, 3, 'valid'], [3, 2, 'same'], [2, 2, 'same']] as const) {
        const y = rnd([2, 7, 7, 3], 24) as tf.Tensor4D;
        outs.push(tf.grad((yy: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(yy as tf.Tensor4D, k, s, pad), rnd(tf.avgPool(y, k, s, pad).shape, 25))))(y));
        outs.push(tf.grad((yy: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(yy as tf.Tensor4D, k, s, pad), rnd(tf.maxPool(y, k, s, pad).shape, 26))))(y));
      }
      return outs;
    });
    close(r, g, 1e-5);
  });

  it('max pooling routes each window to its first maximum: ties, all-negative and all-zero windows', async () => {
    const [r, g] = await onBoth(() => {
      const x = tf.tensor4d([-1, -2, -3, -1, 0, 0, 0, 0, 5, 5, -7, 2, 1, 1, 1, 1], [1, 4, 4, 1]);
      const y = tf.relu(rnd([2, 8, 8, 4], 30)) as tf.Tensor4D; // half zeros: many tied windows
      const out: tf.Tensor[] = [];
      for (const [k, s, pad] of [[2, 2, 'valid'], [3, 1, 'same'], [2, 1, 'valid']] as const) {
        out.push(tf.grad((xx: tf.Tensor) => tf.sum(tf.maxPool(xx as tf.Tensor4D, k, s, pad)))(x));
        out.push(tf.maxPool(y, k, s, pad));
        out.push(tf.grad((yy: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(yy as tf.Tensor4D, k, s, pad), rnd(tf.maxPool(y, k, s, pad).shape, 31))))(y));
      }
      return out;
    });
    close(r, g, 1e-6);
  });

  it('a small CNN\'s loss gradients: conv, batchNorm, relu, pools, dense, softmax cross-entropy', async () => {
    const [r, g] = await onBoth(() => {
      const x = rnd([4, 12, 12, 3], 40) as tf.Tensor4D;
      const labels = tf.oneHot(tf.tensor1d([0, 3, 1, 2], 'int32'), 5);
      const params = [rnd([3, 3, 3, 8], 41).mul(0.3), rnd([8], 42), rnd([8], 43).add(1), rnd([3, 3, 8, 8], 44).mul(0.2), rnd([1, 1, 3, 8], 45), rnd([3 * 3 * 8, 5], 46).mul(0.1), rnd([5], 47)];
      const loss = (...p: tf.Tensor[]) => {
        let h = tf.conv2d(x, p[0] as tf.Tensor4D, 1, 'same');
        const { mean, variance } = tf.moments(h, [0, 1, 2]);
        h = tf.relu(tf.batchNorm(h, mean, variance, p[1], p[2], 1e-5)) as tf.Tensor4D;
        h = tf.maxPool(h, 2, 2, 'valid');
        const skip = tf.conv2d(tf.avgPool(x, 2, 2, 'valid'), p[4] as tf.Tensor4D, 1, 'valid');
        h = tf.relu(tf.add(tf.conv2d(h, p[3] as tf.Tensor4D, 1, 1), skip)) as tf.Tensor4D;
        h = tf.avgPool(h, 2, 2, 'valid');
        const logits = tf.add(tf.matMul(tf.reshape(h, [4, -1]), p[5]), p[6]);
        return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
      };
      return tf.grads(loss)(params);
    });
    close(r, g, 1e-4);
  });

  it('leak no tensors, bytes or backend buffers', () => {
    expect(tf.getBackend()).toBe('wasm');
    const x = rnd([2, 6, 6, 3], 27);
    const w = rnd([3, 3, 3, 4], 28);
    const a = rnd([5, 7], 29);
    const snapshot = () => ({ ...tf.memory(), backendBuffers: (tf.backend() as unknown as { numDataIds(): number }).numDataIds() });
    const start = snapshot();
    for (const stride of [1, 2]) {
      tf.tidy(() => {
        tf.grads((xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, stride, 'same')))([x, w]);
        tf.grads((xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.matMul(xx, ww, true, false)))([a, a]);
        tf.fused.matMul({ a: a as tf.Tensor2D, b: a as tf.Tensor2D, transposeA: false, transposeB: true, bias: tf.ones([5]), activation: 'relu' });
        tf.tile(tf.ones([1, 1, 1, 3]), [2, 2, 2, 1]);
        tf.grad((xx: tf.Tensor) => tf.sum(tf.avgPool(xx as tf.Tensor4D, 2, 2, 'valid')))(x);
        tf.grad((xx: tf.Tensor) => tf.sum(tf.maxPool(xx as tf.Tensor4D, 2, stride, 'same')))(x);
      });
    }
    const end = snapshot();
    expect([end.numTensors, end.numBytes, end.numDataBuffers, end.backendBuffers]).toEqual([start.numTensors, start.numBytes, start.numDataBuffers, start.backendBuffers]);
    tf.dispose([x, w, a]);
  });
});
