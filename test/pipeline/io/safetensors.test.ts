import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  SafetensorsError,
  bufferSource,
  encodeSafetensors,
  readHeader,
  readSafetensors,
  readTensor,
  type SafetensorsErrorCode,
} from '../../../src/pipeline/io/safetensors.ts';
import { fileSource, writeSafetensorsFile } from '../../../src/pipeline/runtime/nodeHost.ts';
import { mulberry32 } from '../../../src/pipeline/random.ts';
import type { FloatTensor, HostTensor, IntDType, IntTensor } from '../../../src/pipeline/model/tensor.ts';

// ------------------------------------------------------------------------------------------------
// Helpers, written independently of the codec

/** Hand-assemble a file: u64 LE length, header text as given (no padding), data bytes. */
function craft(header: unknown, data: ArrayLike<number> = [], rawLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  const len = rawLength ?? BigInt(json.length);
  for (let i = 0; i < 8; i++) out[i] = Number((len >> BigInt(8 * i)) & 0xffn);
  out.set(json, 8);
  out.set(Array.from(data), 8 + json.length);
  return out;
}

/** Little-endian u16 bytes for each value. */
const u16le = (vals: number[]): number[] => vals.flatMap((v) => [v & 0xff, (v >>> 8) & 0xff]);

/** Value of a binary16 bit pattern, from the IEEE 754 definition. */
function refHalf(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  if (e === 0) return s * m * 2 ** -24;
  return s * 2 ** (e - 15) * (1 + m / 1024);
}

/** Value of a bfloat16 bit pattern (8-bit exponent, 7-bit mantissa). */
function refBf16(b: number): number {
  const s = b & 0x8000 ? -1 : 1;
  const e = (b >>> 7) & 0xff;
  const m = b & 0x7f;
  if (e === 0xff) return m ? NaN : s * Infinity;
  if (e === 0) return s * (m / 128) * 2 ** -126;
  return s * 2 ** (e - 127) * (1 + m / 128);
}

/** Nearest representable value, ties to the even pattern; `vals` are the non-negative grid, last = overflow. */
function nearestOnGrid(vals: number[], x: number): number {
  let lo = 0;
  let hi = vals.length - 1;
  if (x >= vals[hi]) return hi;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (vals[mid] <= x) lo = mid;
    else hi = mid;
  }
  const dl = x - vals[lo];
  const dh = vals[hi] - x;
  if (dl < dh) return lo;
  if (dh < dl) return hi;
  return lo % 2 === 0 ? lo : hi;
}

const HALF_GRID = Array.from({ length: 0x7c01 }, (_, h) => (h === 0x7c00 ? 65536 : refHalf(h)));
const BF16_GRID = Array.from({ length: 0x7f81 }, (_, h) => (h === 0x7f80 ? 2 ** 128 : refBf16(h)));

/** Expected binary16 bits for a float32 value `x` (round to nearest even). */
function refToHalf(x: number): number {
  if (Number.isNaN(x)) return -1; // checked separately
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  return sign | nearestOnGrid(HALF_GRID, Math.abs(x));
}
function refToBf16(x: number): number {
  if (Number.isNaN(x)) return -1;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  return sign | nearestOnGrid(BF16_GRID, Math.abs(x));
}

function f32(shape: number[], values: number[], dtype: FloatTensor['dtype'] = 'F32'): FloatTensor {
  return { kind: 'float', dtype, shape, data: Float32Array.from(values) };
}
function intT(dtype: IntDType, shape: number[], bytes: number[]): IntTensor {
  return { kind: 'int', dtype, shape, bytes: Uint8Array.from(bytes) };
}

async function decodeAll(buf: Uint8Array) {
  return readSafetensors(bufferSource(buf));
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: SafetensorsErrorCode, message?: RegExp) {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(err, `expected a SafetensorsError ${code}`).toBeInstanceOf(SafetensorsError);
  expect((err as SafetensorsError).code).toBe(code);
  if (message) expect((err as Error).message).toMatch(message);
}

const rng = mulberry32;

/** Float32 values of many magnitudes, plus edge cases around every rounding boundary we care about. */
function floatSamples(): Float32Array {
  const r = rng(7);
  const vals: number[] = [
    0, -0, 1, -1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -11 + 2 ** -23, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -23,
    65504, 65519, 65520, 65520 + 2 ** -8 * 8, 65536, 1e6, -65520, 3.4028234663852886e38, -3.4028234663852886e38,
    2 ** -14, 2 ** -14 - 2 ** -25, 2 ** -14 - 2 ** -24, 2 ** -24, 2 ** -25, 2 ** -25 + 2 ** -40, 3 * 2 ** -26, 3 * 2 ** -25,
    2 ** -26, 1e-8, -1e-8, 2 ** -126, 2 ** -149, 2 ** -133, 3 * 2 ** -134, 1.1754942e-38, Infinity, -Infinity,
    Math.PI, Math.E, 0.1, -0.3, 1 / 3,
  ];
  for (let i = 0; i < 4000; i++) {
    const mag = 2 ** (Math.floor(r() * 80) - 40) * (1 + r());
    vals.push(r() < 0.5 ? -mag : mag);
  }
  // random bit patterns cover every exponent, incl. subnormals and NaNs
  const bits = new Uint32Array(4000);
  for (let i = 0; i < bits.length; i++) bits[i] = Math.floor(r() * 2 ** 32);
  return Float32Array.from([...vals, ...new Float32Array(bits.buffer)]);
}

// ------------------------------------------------------------------------------------------------

/**
 * Encode the float samples in a 16-bit dtype and check every value's bits against a reference
 * rounding; a NaN must stay a NaN (all exponent bits set, a non-zero mantissa). Returns the bits.
 */
async function encodeAgainst(dtype: 'F16' | 'BF16', ref: (x: number) => number, expBits: number, mantissaBits: number) {
  const xs = floatSamples();
  const file = encodeSafetensors(new Map([['x', { kind: 'float', dtype, shape: [xs.length], data: xs } as HostTensor]]));
  const e = (await readHeader(bufferSource(file))).entries.get('x')!;
  const dv = new DataView(file.buffer, file.byteOffset + e.begin, e.end - e.begin);
  const mismatches: string[] = [];
  for (let i = 0; i < xs.length; i++) {
    const got = dv.getUint16(2 * i, true);
    if (Number.isNaN(xs[i])) {
      if ((got & expBits) !== expBits || (got & mantissaBits) === 0) mismatches.push(`NaN -> ${got.toString(16)}`);
      continue;
    }
    const want = ref(xs[i]);
    if (got !== want) mismatches.push(`${xs[i]}: got ${got.toString(16)} want ${want.toString(16)}`);
  }
  expect(mismatches).toEqual([]);
  return { xs, dv };
}

describe('safetensors float dtypes', () => {
  it('decodes every F16 bit pattern to its IEEE value (subnormals, inf, NaN, -0)', async () => {
    const all = Array.from({ length: 65536 }, (_, i) => i);
    const file = craft({ h: { dtype: 'F16', shape: [256, 256], data_offsets: [0, 131072] } }, u16le(all));
    const { tensors } = await decodeAll(file);
    const t = tensors.get('h') as FloatTensor;
    expect(t.kind).toBe('float');
    expect(t.dtype).toBe('F16');
    expect(t.shape).toEqual([256, 256]);
    let bad = 0;
    for (let h = 0; h < 65536; h++) if (!Object.is(t.data[h], refHalf(h))) bad++;
    expect(bad).toBe(0);
    expect(t.data[0x0001]).toBe(2 ** -24); // smallest subnormal
    expect(t.data[0x03ff]).toBe(1023 * 2 ** -24); // largest subnormal
    expect(t.data[0x7bff]).toBe(65504);
    expect(t.data[0xfc00]).toBe(-Infinity);
    expect(Number.isNaN(t.data[0x7e00])).toBe(true);
    expect(Object.is(t.data[0x8000], -0)).toBe(true);
  });

  it('round-trips every F16 bit pattern exactly, NaN payloads included', async () => {
    const all = u16le(Array.from({ length: 65536 }, (_, i) => i));
    const file = craft({ h: { dtype: 'F16', shape: [65536], data_offsets: [0, 131072] } }, all);
    const { tensors } = await decodeAll(file);
    const again = encodeSafetensors(tensors);
    const back = await readHeader(bufferSource(again));
    const e = back.entries.get('h')!;
    expect(e.dtype).toBe('F16');
    expect(Array.from(again.subarray(e.begin, e.end))).toEqual(all);
  });

  it('encodes float32 to F16 with round-to-nearest-even, overflow to inf, gradual underflow', async () => {
    const { xs, dv } = await encodeAgainst('F16', refToHalf, 0x7c00, 0x3ff);
    // a few by hand
    const pick = (x: number) => xs.indexOf(x);
    expect(dv.getUint16(2 * pick(65520), true)).toBe(0x7c00); // tie above max -> inf
    expect(dv.getUint16(2 * pick(65519), true)).toBe(0x7bff);
    expect(dv.getUint16(2 * pick(1 + 2 ** -11), true)).toBe(0x3c00); // tie -> even (down)
    expect(dv.getUint16(2 * pick(1 + 3 * 2 ** -11), true)).toBe(0x3c02); // tie -> even (up)
    expect(dv.getUint16(2 * pick(2 ** -25), true)).toBe(0x0000); // tie with 0 -> 0
    expect(dv.getUint16(2 * pick(3 * 2 ** -26), true)).toBe(0x0001);
    expect(dv.getUint16(2 * pick(2 ** -14 - 2 ** -25), true)).toBe(0x0400); // rounds up into the normals
  });

  it('decodes every BF16 bit pattern to its value', async () => {
    const all = Array.from({ length: 65536 }, (_, i) => i);
    const file = craft({ b: { dtype: 'BF16', shape: [65536], data_offsets: [0, 131072] } }, u16le(all));
    const t = (await decodeAll(file)).tensors.get('b') as FloatTensor;
    expect(t.dtype).toBe('BF16');
    let bad = 0;
    for (let b = 0; b < 65536; b++) if (!Object.is(t.data[b], refBf16(b))) bad++;
    expect(bad).toBe(0);
    expect(t.data[0x3f80]).toBe(1);
    expect(t.data[0x4049]).toBe(3.140625);
    expect(t.data[0xff80]).toBe(-Infinity);
    // and back, bit exact
    const again = encodeSafetensors({ b: t });
    const e = (await readHeader(bufferSource(again))).entries.get('b')!;
    expect(Array.from(again.subarray(e.begin, e.end))).toEqual(u16le(all));
  });

  it('encodes float32 to BF16 with round-to-nearest-even', async () => {
    const { xs, dv } = await encodeAgainst('BF16', refToBf16, 0x7f80, 0x7f);
    expect(dv.getUint16(2 * xs.indexOf(1 + 2 ** -8), true)).toBe(0x3f80); // tie -> even (down)
    expect(dv.getUint16(2 * xs.indexOf(1 + 3 * 2 ** -8), true)).toBe(0x3f82); // tie -> even (up)
    expect(dv.getUint16(2 * xs.indexOf(3.4028234663852886e38), true)).toBe(0x7f80); // overflow -> inf
  });

  it('round-trips F32 bit-exactly (NaN, -0, inf, subnormals)', async () => {
    const bits = Uint32Array.from([0x7fc00001, 0xffc12345, 0x80000000, 0x7f800000, 0x00000001, 0x3f800000, 0xc2f6e979]);
    const data = new Float32Array(bits.buffer);
    const file = encodeSafetensors({ w: { kind: 'float', dtype: 'F32', shape: [7, 1], data } });
    const t = (await decodeAll(file)).tensors.get('w') as FloatTensor;
    expect(t.dtype).toBe('F32');
    expect(t.shape).toEqual([7, 1]);
    expect(Array.from(new Uint32Array(t.data.buffer, t.data.byteOffset, 7))).toEqual(Array.from(bits));
    expect(t.data[6]).toBeCloseTo(-123.456, 3);
  });

  it('writes F64 widened and reads it back rounded to float32', async () => {
    const data = Float32Array.from([0.1, -2.5, 1e30, -0, Infinity, 2 ** -149]);
    const file = encodeSafetensors({ d: { kind: 'float', dtype: 'F64', shape: [2, 3], data } });
    const h = await readHeader(bufferSource(file));
    const e = h.entries.get('d')!;
    expect(e.dtype).toBe('F64');
    expect(e.end - e.begin).toBe(48);
    const dv = new DataView(file.buffer, file.byteOffset + e.begin, 48);
    expect(dv.getFloat64(0, true)).toBe(Math.fround(0.1)); // widened exactly
    const t = (await decodeAll(file)).tensors.get('d') as FloatTensor;
    expect(t.dtype).toBe('F64');
    expect(Array.from(t.data)).toEqual(Array.from(data));
    expect(Object.is(t.data[3], -0)).toBe(true);
  });
});

describe('safetensors integer dtypes', () => {
  const widths: [IntDType, number][] = [
    ['I64', 8], ['I32', 4], ['I16', 2], ['I8', 1], ['U64', 8], ['U32', 4], ['U16', 2], ['U8', 1], ['BOOL', 1],
  ];
  it('round-trips every integer dtype with its exact bytes', async () => {
    const r = rng(3);
    const sd = new Map<string, HostTensor>();
    for (const [dtype, w] of widths) {
      const bytes = Array.from({ length: 3 * 5 * w }, () => Math.floor(r() * 256));
      sd.set(`t.${dtype}`, intT(dtype, [3, 5], dtype === 'BOOL' ? bytes.map((b) => b & 1) : bytes));
    }
    const out = (await decodeAll(encodeSafetensors(sd))).tensors;
    expect([...out.keys()]).toEqual([...sd.keys()]);
    for (const [name, t] of sd) {
      const got = out.get(name) as IntTensor;
      expect(got.kind).toBe('int');
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual([3, 5]);
      expect(Array.from(got.bytes)).toEqual(Array.from((t as IntTensor).bytes));
    }
  });

  it('keeps int64 values beyond 2^53 intact', async () => {
    const big = [2n ** 62n + 1n, -(2n ** 63n), 9007199254740993n];
    const b = new Uint8Array(24);
    const dv = new DataView(b.buffer);
    big.forEach((v, i) => dv.setBigInt64(8 * i, v, true));
    const t = (await decodeAll(encodeSafetensors({ n: intT('I64', [3], Array.from(b)) }))).tensors.get('n') as IntTensor;
    const back = new DataView(t.bytes.buffer, t.bytes.byteOffset, 24);
    expect([0, 1, 2].map((i) => back.getBigInt64(8 * i, true))).toEqual(big);
  });
});

describe('safetensors layout', () => {
  it('pads the header with spaces to a multiple of 8 and lays tensors out contiguously in insertion order', async () => {
    for (const name of ['a', 'ab', 'abc', 'abcd', 'abcde', 'abcdef', 'abcdefg', 'abcdefgh']) {
      const file = encodeSafetensors({ [name]: f32([1], [1]), z: intT('U8', [3], [1, 2, 3]), y: f32([2], [5, 6], 'F16') });
      const n = Number(new DataView(file.buffer).getBigUint64(0, true));
      expect(n % 8).toBe(0);
      const text = new TextDecoder().decode(file.subarray(8, 8 + n));
      expect(text).toMatch(/^\{.*\} *$/);
      const header = JSON.parse(text);
      expect(Object.keys(header)).toEqual([name, 'z', 'y']);
      expect(header[name].data_offsets).toEqual([0, 4]);
      expect(header.z.data_offsets).toEqual([4, 7]);
      expect(header.y).toEqual({ dtype: 'F16', shape: [2], data_offsets: [7, 11] });
      expect(file.length).toBe(8 + n + 11);
      expect(Array.from(file.subarray(8 + n + 7))).toEqual([0x00, 0x45, 0x00, 0x46]); // 5, 6 in half
    }
  });

  it('preserves metadata and omits it when not given', async () => {
    const meta = { format: 'pt', note: 'ünïcödé ✓', empty: '' };
    const file = encodeSafetensors({ w: f32([1], [2]) }, meta);
    const { metadata, tensors } = await decodeAll(file);
    expect(metadata).toEqual(meta);
    expect((tensors.get('w') as FloatTensor).data[0]).toBe(2);
    const plain = encodeSafetensors({ w: f32([1], [2]) });
    expect(new TextDecoder().decode(plain)).not.toContain('__metadata__');
    expect((await decodeAll(plain)).metadata).toEqual({});
  });

  it('rejects metadata values that are not strings when writing', () => {
    expect(() => encodeSafetensors({ w: f32([1], [2]) }, { n: 3 as unknown as string })).toThrow(SafetensorsError);
  });

  it('handles zero-element and scalar tensors', async () => {
    const sd = new Map<string, HostTensor>([
      ['empty', f32([0, 4], [])],
      ['scalar', f32([], [7.5])],
      ['empty_i', intT('I64', [2, 0], [])],
      ['after', f32([2], [1, 2], 'BF16')],
    ]);
    const file = encodeSafetensors(sd);
    const h = await readHeader(bufferSource(file));
    expect(h.entries.get('empty')!.end - h.entries.get('empty')!.begin).toBe(0);
    const { tensors } = await decodeAll(file);
    expect(tensors.get('empty')!.shape).toEqual([0, 4]);
    expect((tensors.get('empty') as FloatTensor).data.length).toBe(0);
    expect((tensors.get('scalar') as FloatTensor).shape).toEqual([]);
    expect((tensors.get('scalar') as FloatTensor).data[0]).toBe(7.5);
    expect((tensors.get('empty_i') as IntTensor).bytes.length).toBe(0);
    expect(Array.from((tensors.get('after') as FloatTensor).data)).toEqual([1, 2]);
  });

  it('gives absolute offsets and lists entries in file order, whatever the header order', async () => {
    const header = {
      __metadata__: { k: 'v' },
      second: { dtype: 'U8', shape: [2], data_offsets: [4, 6] },
      first: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
    };
    const text = JSON.stringify(header);
    const file = craft(header, [0, 0, 0x80, 0x3f, 9, 8]);
    const h = await readHeader(bufferSource(file));
    expect(h.dataStart).toBe(8 + text.length);
    expect([...h.entries.keys()]).toEqual(['first', 'second']);
    expect(h.entries.get('second')).toEqual({ name: 'second', dtype: 'U8', shape: [2], begin: h.dataStart + 4, end: h.dataStart + 6 });
    expect(h.metadata).toEqual({ k: 'v' });
    const t = await readTensor(bufferSource(file), h.entries.get('first')!);
    expect((t as FloatTensor).data[0]).toBe(1);
  });

  it('keeps integer-like and escaped tensor names', async () => {
    const sd = new Map<string, HostTensor>([
      ['layer.0', f32([1], [1])],
      ['1', f32([1], [2])],
      ['0', f32([1], [3])],
      ['q"\\uote\n', f32([1], [4])],
      ['__proto__', f32([1], [5])],
    ]);
    const { tensors } = await decodeAll(encodeSafetensors(sd));
    expect([...tensors.keys()]).toEqual([...sd.keys()]);
    expect([...tensors.values()].map((t) => (t as FloatTensor).data[0])).toEqual([1, 2, 3, 4, 5]);
  });

  it('decodes tensors at unaligned offsets', async () => {
    const data = [7, 8, 9, ...[0, 0, 0xc0, 0x3f], ...[0x00, 0x3c], ...[0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f]];
    const file = craft(
      {
        u: { dtype: 'U8', shape: [3], data_offsets: [0, 3] },
        f: { dtype: 'F32', shape: [1], data_offsets: [3, 7] },
        h: { dtype: 'F16', shape: [1], data_offsets: [7, 9] },
        d: { dtype: 'F64', shape: [1], data_offsets: [9, 17] },
      },
      data,
    );
    const { tensors } = await decodeAll(file);
    expect((tensors.get('f') as FloatTensor).data[0]).toBe(1.5);
    expect((tensors.get('h') as FloatTensor).data[0]).toBe(1);
    expect((tensors.get('d') as FloatTensor).data[0]).toBe(Math.fround(0.1));
  });

  it('returns tensors that do not alias the source buffer', async () => {
    const file = encodeSafetensors({ i: intT('U8', [2], [1, 2]), f: f32([1], [3]) });
    const { tensors } = await decodeAll(file);
    (tensors.get('i') as IntTensor).bytes[0] = 99;
    (tensors.get('f') as FloatTensor).data[0] = 99;
    const again = await decodeAll(file);
    expect((again.tensors.get('i') as IntTensor).bytes[0]).toBe(1);
    expect((again.tensors.get('f') as FloatTensor).data[0]).toBe(3);
  });
});

describe('safetensors selective reads', () => {
  const sd = new Map<string, HostTensor>([
    ['a', f32([2], [1, 2])],
    ['b', intT('I32', [1], [1, 0, 0, 0])],
    ['c', f32([1], [0.5], 'F16')],
  ]);
  it('reads only the named tensors, in file order', async () => {
    const { tensors } = await readSafetensors(bufferSource(encodeSafetensors(sd)), ['c', 'a', 'c']);
    expect([...tensors.keys()]).toEqual(['a', 'c']);
    expect(Array.from((tensors.get('a') as FloatTensor).data)).toEqual([1, 2]);
    expect((tensors.get('c') as FloatTensor).data[0]).toBe(0.5);
  });
  it('reads nothing for an empty selection', async () => {
    const { tensors } = await readSafetensors(bufferSource(encodeSafetensors(sd)), []);
    expect(tensors.size).toBe(0);
  });
  it('fails with missing_tensor on an unknown name', async () => {
    await expectCode(readSafetensors(bufferSource(encodeSafetensors(sd)), ['a', 'nope']), 'missing_tensor', /"nope"/);
  });
  it('reads only the bytes it needs', async () => {
    const file = encodeSafetensors(sd);
    const inner = bufferSource(file);
    const reads: [number, number][] = [];
    const spy = { size: inner.size, read: (o: number, l: number) => (reads.push([o, l]), inner.read(o, l)) };
    const h = await readHeader(spy);
    reads.length = 0;
    await readSafetensors(spy, ['b']);
    const b = h.entries.get('b')!;
    expect(reads.filter(([o]) => o >= h.dataStart)).toEqual([[b.begin, 4]]);
  });
});

describe('safetensors files', () => {
  it('round-trips through writeSafetensorsFile and fileSource, byte-identical to encodeSafetensors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'basin-st-'));
    try {
      const r = rng(11);
      const big = Float32Array.from({ length: 100_003 }, () => r() * 2 - 1);
      const sd = new Map<string, HostTensor>([
        ['w1', { kind: 'float', dtype: 'F32', shape: [100_003], data: big }],
        ['w2', { kind: 'float', dtype: 'BF16', shape: [10, 10], data: big.subarray(5, 105) }],
        ['w3', { kind: 'float', dtype: 'F16', shape: [3], data: Float32Array.from([1, -2, 0.25]) }],
        ['n', intT('I64', [], [5, 0, 0, 0, 0, 0, 0, 0])],
      ]);
      const path = join(dir, 'm.safetensors');
      await writeSafetensorsFile(path, sd, { source: 'test' });
      const onDisk = new Uint8Array(await readFile(path));
      expect(Buffer.from(onDisk).equals(encodeSafetensors(sd, { source: 'test' }))).toBe(true);

      const src = await fileSource(path);
      try {
        expect(src.size).toBe(onDisk.length);
        const { tensors, metadata } = await readSafetensors(src);
        expect(metadata).toEqual({ source: 'test' });
        const w1 = (tensors.get('w1') as FloatTensor).data;
        expect(w1.length).toBe(big.length);
        expect(Buffer.from(w1.buffer, w1.byteOffset, w1.byteLength).equals(Buffer.from(big.buffer))).toBe(true);
        const w2 = tensors.get('w2') as FloatTensor;
        expect(w2.dtype).toBe('BF16');
        for (let i = 0; i < 100; i++) expect(Math.abs(w2.data[i] - big[5 + i])).toBeLessThanOrEqual(Math.abs(big[5 + i]) * 2 ** -8);
        expect(Array.from((tensors.get('w3') as FloatTensor).data)).toEqual([1, -2, 0.25]);
        expect(Array.from((tensors.get('n') as IntTensor).bytes)).toEqual([5, 0, 0, 0, 0, 0, 0, 0]);
      } finally {
        await src.close!();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports a truncated file read through fileSource', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'basin-st-'));
    try {
      const file = encodeSafetensors({ w: f32([4], [1, 2, 3, 4]) });
      const path = join(dir, 'cut.safetensors');
      await writeFile(path, file.subarray(0, file.length - 3));
      const src = await fileSource(path);
      try {
        await expectCode(readSafetensors(src), 'truncated', /"w"/);
      } finally {
        await src.close!();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('safetensors known-answer file, bytes written by hand', () => {
  // Independent check (neither the python `safetensors` package nor torch is needed): every byte below
  // is written out literally, from the format description and IEEE 754 encodings.
  const header =
    '{"__metadata__":{"format":"pt"},' +
    '"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},' +
    '"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},' +
    '"f":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},' +
    '"d":{"dtype":"F64","shape":[1],"data_offsets":[16,24]},' +
    '"i":{"dtype":"I64","shape":[1],"data_offsets":[24,32]},' +
    '"s":{"dtype":"I16","shape":[1],"data_offsets":[32,34]},' +
    '"m":{"dtype":"BOOL","shape":[2],"data_offsets":[34,36]}}';
  const headerBytes = Array.from(header, (c) => c.charCodeAt(0));
  const data = [
    0x00, 0x3c, 0x01, 0x80, // F16: 1.0, -2^-24 (negative smallest subnormal)
    0x80, 0x3f, 0x49, 0x40, // BF16: 1.0, 3.140625
    0x00, 0x00, 0x20, 0xc1, 0x00, 0x00, 0xc0, 0x7f, // F32: -10.0, NaN
    0x18, 0x2d, 0x44, 0x54, 0xfb, 0x21, 0x09, 0x40, // F64: pi
    0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // I64: -2
    0x34, 0x12, // I16: 0x1234
    0x01, 0x00, // BOOL: true, false
  ];
  const file = Uint8Array.from([headerBytes.length & 0xff, headerBytes.length >> 8, 0, 0, 0, 0, 0, 0, ...headerBytes, ...data]);

  it('decodes the expected values', async () => {
    const { tensors, metadata } = await decodeAll(file);
    expect(metadata).toEqual({ format: 'pt' });
    expect([...tensors.keys()]).toEqual(['h', 'b', 'f', 'd', 'i', 's', 'm']);
    expect(Array.from((tensors.get('h') as FloatTensor).data)).toEqual([1, -(2 ** -24)]);
    expect(Array.from((tensors.get('b') as FloatTensor).data)).toEqual([1, 3.140625]);
    const f = (tensors.get('f') as FloatTensor).data;
    expect(f[0]).toBe(-10);
    expect(Number.isNaN(f[1])).toBe(true);
    expect((tensors.get('d') as FloatTensor).data[0]).toBe(Math.fround(Math.PI));
    expect((tensors.get('d') as FloatTensor).dtype).toBe('F64');
    const i = tensors.get('i') as IntTensor;
    expect(i.dtype).toBe('I64');
    expect(new DataView(i.bytes.buffer, i.bytes.byteOffset).getBigInt64(0, true)).toBe(-2n);
    expect(Array.from((tensors.get('s') as IntTensor).bytes)).toEqual([0x34, 0x12]);
    expect(Array.from((tensors.get('m') as IntTensor).bytes)).toEqual([1, 0]);
  });

  it('re-encodes to the same data bytes', async () => {
    const { tensors, metadata } = await decodeAll(file);
    const again = encodeSafetensors(tensors, metadata);
    const n = Number(new DataView(again.buffer).getBigUint64(0, true));
    const out = Array.from(again.subarray(8 + n));
    // F64 is decoded to float32, so it comes back as fround(pi) widened: 0x400921FB60000000
    expect(out.slice(16, 24)).toEqual([0x00, 0x00, 0x00, 0x60, 0xfb, 0x21, 0x09, 0x40]);
    expect([...out.slice(0, 16), ...out.slice(24)]).toEqual([...data.slice(0, 16), ...data.slice(24)]);
  });
});

describe('safetensors validation', () => {
  const ok = { w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } };
  const four = [0, 0, 0x80, 0x3f];

  it('header_too_large', async () => {
    await expectCode(decodeAll(craft(ok, four, 100_000_001n)), 'header_too_large');
    await expectCode(decodeAll(craft(ok, four, 2n ** 64n - 1n)), 'header_too_large');
  });

  it('truncated: shorter than 8 bytes, than the header, than the last offset', async () => {
    await expectCode(decodeAll(new Uint8Array(5)), 'truncated');
    await expectCode(decodeAll(new Uint8Array(0)), 'truncated');
    await expectCode(decodeAll(craft(ok, four, 1000n)), 'truncated', /1000/);
    await expectCode(decodeAll(craft(ok, [0, 0, 0x80])), 'truncated', /"w"/);
    await expectCode(
      decodeAll(craft({ a: { dtype: 'U8', shape: [1], data_offsets: [0, 1] }, b: { dtype: 'U8', shape: [2], data_offsets: [1, 3] } }, [1, 2])),
      'truncated',
      /"b"/,
    );
  });

  it('bad_header_json: not JSON, or not UTF-8', async () => {
    await expectCode(decodeAll(craft('{"w": {"dtype": "F32",', four)), 'bad_header_json');
    await expectCode(decodeAll(craft('', [])), 'bad_header_json');
    const bad = craft('{"w":1}   ');
    bad[10] = 0xff; // invalid UTF-8 inside the header
    await expectCode(decodeAll(bad), 'bad_header_json');
  });

  it('bad_header: not an object, missing fields, bad shapes, bad offsets type, bad metadata', async () => {
    await expectCode(decodeAll(craft('[1, 2]')), 'bad_header');
    await expectCode(decodeAll(craft('null')), 'bad_header');
    await expectCode(decodeAll(craft({ w: 5 }, four)), 'bad_header', /"w"/);
    await expectCode(decodeAll(craft({ w: { shape: [1], data_offsets: [0, 4] } }, four)), 'bad_header', /"w".*dtype/);
    await expectCode(decodeAll(craft({ w: { dtype: 'F32', data_offsets: [0, 4] } }, four)), 'bad_header', /"w".*shape/);
    await expectCode(decodeAll(craft({ w: { dtype: 'F32', shape: [1] } }, four)), 'bad_header', /"w".*data_offsets/);
    await expectCode(decodeAll(craft({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, four)), 'bad_header', /"w"/);
    await expectCode(decodeAll(craft({ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, four)), 'bad_header', /"w"/);
    await expectCode(decodeAll(craft({ w: { dtype: 'F32', shape: ['1'], data_offsets: [0, 4] } }, four)), 'bad_header', /"w"/);
    await expectCode(decodeAll(craft({ w: { dtype: 'F32', shape: 1, data_offsets: [0, 4] } }, four)), 'bad_header', /"w"/);
    await expectCode(decodeAll(craft({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4, 8] } }, four)), 'bad_header', /"w"/);
    await expectCode(decodeAll(craft({ w: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, four)), 'bad_header', /"w"/);
    await expectCode(decodeAll(craft({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4], extra: 1 } }, four)), 'bad_header', /"w".*extra/);
    await expectCode(decodeAll(craft({ ...ok, __metadata__: { n: 1 } }, four)), 'bad_header', /"n"/);
    await expectCode(decodeAll(craft({ ...ok, __metadata__: ['x'] }, four)), 'bad_header', /__metadata__/);
    await expectCode(decodeAll(craft('{"w":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}', four)), 'bad_header', /"w".*dtype/);
  });

  it('unknown_dtype', async () => {
    await expectCode(decodeAll(craft({ w: { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] } }, four)), 'unknown_dtype', /"w".*F8_E4M3/);
    await expectCode(decodeAll(craft({ w: { dtype: 'f32', shape: [1], data_offsets: [0, 4] } }, four)), 'unknown_dtype');
    await expectCode(decodeAll(craft({ w: { dtype: 'toString', shape: [1], data_offsets: [0, 4] } }, four)), 'unknown_dtype');
  });

  it('bad_offsets: gap, overlap, not starting at 0, data after the last tensor, reversed', async () => {
    const u8 = (a: number, b: number) => ({ dtype: 'U8', shape: [b - a], data_offsets: [a, b] });
    await expectCode(decodeAll(craft({ a: u8(0, 2), b: u8(3, 5) }, [1, 2, 3, 4, 5])), 'bad_offsets', /gap.*"a".*"b"/);
    await expectCode(decodeAll(craft({ a: u8(0, 3), b: u8(2, 5) }, [1, 2, 3, 4, 5])), 'bad_offsets', /"b" overlaps.*"a"/);
    await expectCode(decodeAll(craft({ a: u8(0, 3), b: u8(0, 3) }, [1, 2, 3])), 'bad_offsets');
    await expectCode(decodeAll(craft({ a: u8(1, 3) }, [1, 2, 3])), 'bad_offsets', /"a".*not 0/);
    await expectCode(decodeAll(craft({ a: u8(0, 3) }, [1, 2, 3, 4])), 'bad_offsets', /1 bytes.*after/);
    await expectCode(decodeAll(craft({}, [1])), 'bad_offsets');
    await expectCode(decodeAll(craft({ a: { dtype: 'U8', shape: [0], data_offsets: [3, 0] } }, [1, 2, 3])), 'bad_offsets', /"a"/);
    // zero-length tensors sitting inside another one overlap it
    await expectCode(decodeAll(craft({ a: u8(0, 3), z: u8(1, 1) }, [1, 2, 3])), 'bad_offsets', /"z"/);
    // ... but zero-length tensors at a boundary are fine
    const fine = await decodeAll(craft({ z: u8(3, 3), a: u8(0, 3), y: u8(0, 0) }, [1, 2, 3]));
    expect([...fine.tensors.keys()]).toEqual(['y', 'a', 'z']);
  });

  it('size_mismatch', async () => {
    await expectCode(decodeAll(craft({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, four)), 'size_mismatch', /"w"/);
    await expectCode(decodeAll(craft({ w: { dtype: 'F16', shape: [3], data_offsets: [0, 4] } }, four)), 'size_mismatch', /"w"/);
    await expectCode(decodeAll(craft({ w: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 4] } }, four)), 'size_mismatch');
    expect(() => encodeSafetensors({ w: f32([3], [1, 2]) })).toThrow(SafetensorsError);
    await expectCode(() => encodeSafetensors({ w: intT('I32', [2], [1, 2, 3]) }), 'size_mismatch', /"w"/);
  });

  it('duplicate_name', async () => {
    const text = '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
    await expectCode(decodeAll(craft(text, four)), 'duplicate_name', /"w"/);
    // the same name spelled with an escape is still the same name
    const escaped = '{"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"\\u0077":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}';
    await expectCode(decodeAll(craft(escaped, four)), 'duplicate_name', /"w"/);
    // strings that contain braces, quotes and commas do not confuse the scan
    const tricky = '{"a{,\\"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"__metadata__":{"x":"}, \\"a{\\":"},"c":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}';
    const { tensors, metadata } = await decodeAll(craft(tricky, four));
    expect([...tensors.keys()]).toEqual(['a{,"b', 'c']);
    expect(metadata).toEqual({ x: '}, "a{":' });
  });

  it('missing_tensor', async () => {
    await expectCode(readSafetensors(bufferSource(craft(ok, four)), ['v']), 'missing_tensor', /"v"/);
  });

  it('errors are SafetensorsError instances carrying their code', async () => {
    const err = new SafetensorsError('bad_offsets', 'x');
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('bad_offsets');
    expect(err.message).toBe('x');
  });
});
