import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, smokeTest } from '../../src/pipeline/backend.ts';
import { gaussian, mulberry32 } from '../../src/pipeline/random.ts';

/** Run `f` on the cpu backend and on wasm (with basin's kernel fixes) and return both results. */
async function onBoth(f: () => tf.Tensor | tf.Tensor[]): Promise<[Float32Array[], Float32Array[]]> {
  const read = () => tf.tidy(() => [f()].flat().map((t) => t.dataSync() as Float32Array));
  await tf.setBackend('cpu');
  const ref = read();
  await tf.setBackend('wasm');
  const got = read();
  return [ref, got];
}

function close(a: Float32Array[], b: Float32Array[], tol = 1e-4) {
  expect(a.length).toBe(b.length);
  a.forEach((x, k) => {
    expect(x.length).toBe(b[k].length);
    let worst = 0;
    let scale = 0;
    x.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - b[k][i])); scale = Math.max(scale, Math.abs(v)); });
    expect(worst / (scale + 1e-6)).toBeLessThan(tol);
  });
}

const rnd = (shape: number[], seed: number) => { const g = gaussian(mulberry32(seed)); return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, g), shape); };

beforeAll(async () => {
  await initBackend({ prefer: ['wasm'] });
  await import('@tensorflow/tfjs-backend-cpu');
});

describe('backend chain', () => {
  it('falls back past unusable candidates and records why', async () => {
    const info = await initBackend({ prefer: ['tensorflow-gpu', 'nonexistent', 'wasm'] });
    expect(info.name).toBe('wasm');
    expect(info.tried.map((t) => [t.name, t.ok])).toEqual([['tensorflow-gpu', false], ['nonexistent', false], ['wasm', true]]);
    expect(info.tried[1].reason).toMatch(/unknown backend/);
    expect(() => smokeTest()).not.toThrow();
  });

  it('leaves no process-wide exception handlers behind', () => {
    expect(process.listeners('uncaughtException').filter((l) => /throw/.test(String(l)) && !/vitest/.test(String(l)))).toHaveLength(0);
  });
});

describe('wasm kernel fixes agree with the cpu backend', () => {
  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
    it(`matMul transposeA=${ta} transposeB=${tb}, batched and fused`, async () => {
      const [r, g] = await onBoth(() => {
        const a = rnd(ta ? [7, 5] : [5, 7], 1);
        const b = rnd(tb ? [3, 7] : [7, 3], 2);
        const ba = rnd(ta ? [2, 7, 5] : [2, 5, 7], 3);
        const bb = rnd(tb ? [2, 3, 7] : [2, 7, 3], 4);
        return [tf.matMul(a, b, ta, tb), tf.matMul(ba, bb, ta, tb), tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, transposeA: ta, transposeB: tb, bias: rnd([3], 5), activation: 'relu' })];
      });
      close(r, g);
    });
  }

  for (const [stride, pad] of [[1, 'same'], [1, 'valid'], [2, 'same'], [2, 'valid'], [1, 1], [2, 1], [1, 0]] as const) {
    it(`conv2d gradients, stride ${stride}, padding ${pad}`, async () => {
      const [r, g] = await onBoth(() => {
        const x = rnd([3, 9, 8, 4], 6);
        const w = rnd([3, 3, 4, 5], 7);
        const f = (xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, stride, pad), rnd(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad).shape, 8)));
        const [dx, dw] = tf.grads(f)([x, w]);
        return [dx, dw];
      });
      close(r, g);
    });
  }

  it('kernels leak no tensors', async () => {
    await tf.setBackend('wasm');
    const x = rnd([2, 6, 6, 3], 9);
    const w = rnd([3, 3, 3, 4], 10);
    const before = tf.memory().numTensors;
    for (const stride of [1, 2]) tf.tidy(() => { tf.grads((xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, stride, "same")))([x, w]); });
    expect(tf.memory().numTensors).toBe(before);
  });
});
