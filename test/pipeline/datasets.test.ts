import { describe, it, expect } from 'vitest';
import { batches, datasetFromTensors, DatasetError, loadBuiltin, subset } from '../../src/pipeline/datasets.ts';

const counts = (y: Int32Array) => { const c = new Array(10).fill(0); y.forEach((v) => c[v]++); return c; };

describe('built-in datasets', () => {
  it('mnist: the original IDX files, 60k train / 10k test, pixels in [0,1]', async () => {
    const [train, test] = await Promise.all([loadBuiltin('mnist', 'train'), loadBuiltin('mnist', 'test')]);
    expect([train.n, test.n]).toEqual([60000, 10000]);
    expect(train.x.length).toBe(60000 * 784);
    expect(counts(test.y).every((c) => c > 800)).toBe(true);
    expect(Math.min(...train.x.subarray(0, 7840))).toBe(0);
    expect(Math.max(...train.x.subarray(0, 7840))).toBe(1);
    // the first training digit of MNIST is a 5
    expect(train.y[0]).toBe(5);
  });

  it('fashion-mnist: a deterministic, disjoint, class-balanced 60k / 10k split', async () => {
    const [train, test] = await Promise.all([loadBuiltin('fashion-mnist', 'train'), loadBuiltin('fashion-mnist', 'test')]);
    expect([train.n, test.n]).toEqual([60000, 10000]);
    expect(counts(train.y)).toEqual(new Array(10).fill(6000));
    expect(counts(test.y)).toEqual(new Array(10).fill(1000));
    const small = await loadBuiltin('fashion-mnist', 'test', 500);
    expect(small.n).toBe(500);
    expect(counts(small.y).every((c) => c > 25)).toBe(true);
    const key = (x: Float32Array, i: number) => Array.from(x.subarray(i * 784, i * 784 + 784)).join(',');
    const trainKeys = new Set(Array.from({ length: 60000 }, (_, i) => key(train.x, i)));
    const shared = Array.from({ length: 2000 }, (_, i) => key(test.x, i)).filter((k) => trainKeys.has(k));
    // Fashion-MNIST has a handful of byte-identical duplicate images; a leaky split would share ~2000
    expect(shared.length).toBeLessThan(20);
  });
});

describe('dataset files', () => {
  it('reads float32 or uint8 x and integer y of any width', () => {
    const y64 = new Uint8Array(new BigInt64Array([2n, 0n]).buffer);
    const ds = datasetFromTensors({ kind: 'int', dtype: 'U8', shape: [2, 3], bytes: Uint8Array.from([0, 255, 51, 102, 0, 255]) }, { kind: 'int', dtype: 'I64', shape: [2], bytes: y64 }, 'f');
    expect(Array.from(ds.x)).toEqual([0, 1, 0.2, 0.4, 0, 1].map((v) => Math.fround(v)));
    expect(Array.from(ds.y)).toEqual([2, 0]);
    expect(ds.sampleShape).toEqual([3]);
    const f = datasetFromTensors({ kind: 'float', dtype: 'F32', shape: [1, 2], data: Float32Array.from([0.5, -1]) }, { kind: 'float', dtype: 'F32', shape: [1], data: Float32Array.from([3]) }, 'g');
    expect(Array.from(f.y)).toEqual([3]);
  });

  it('names what is wrong with a bad dataset', () => {
    const x = { kind: 'float' as const, dtype: 'F32' as const, shape: [2, 2], data: new Float32Array(4) };
    const bad: [Parameters<typeof datasetFromTensors>[1] | undefined, RegExp][] = [
      [undefined, /needs tensors "x" and "y"/],
      [{ kind: 'float', dtype: 'F32', shape: [3], data: new Float32Array(3) }, /y must be \[2\]/],
      [{ kind: 'float', dtype: 'F32', shape: [2], data: Float32Array.from([0.5, 1]) }, /label 0 is 0.5/],
      [{ kind: 'int', dtype: 'I32', shape: [2], bytes: new Uint8Array(Int32Array.from([1, -4]).buffer) }, /label 1 is -4/],
    ];
    for (const [y, msg] of bad) {
      expect(() => datasetFromTensors(x, y, 'd')).toThrow(DatasetError);
      expect(() => datasetFromTensors(x, y, 'd')).toThrow(msg);
    }
  });

  it('subsets and batches cover every sample once', () => {
    const ds = { x: Float32Array.from({ length: 10 }, (_, i) => i), y: Int32Array.from({ length: 5 }, (_, i) => i), n: 5, sampleShape: [2], name: 'd', classes: 5 };
    expect(Array.from(subset(ds, 2).y)).toEqual([0, 1]);
    const seen = [...batches(ds, 2)].map((b) => [b.start, b.n, Array.from(b.y)]);
    expect(seen).toEqual([[0, 2, [0, 1]], [2, 2, [2, 3]], [4, 1, [4]]]);
  });
});
