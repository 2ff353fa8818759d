/**
 * safetensors codec: an 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}`, then the
 * byte buffer (offsets are relative to its start).
 *
 * Reading is strict (every malformed file is rejected with a named error code) and streams tensor by
 * tensor from a ByteSource, so a checkpoint never has to be held in memory as a whole.
 *
 * Dtypes: F64/F32/F16/BF16 become FloatTensors (float32 data, `dtype` = the stored dtype); the integer
 * dtypes and BOOL become IntTensors holding their exact bytes. The 8-bit (F8_E4M3, F8_E5M2, F8_E8M0) and
 * sub-byte float formats are rejected with 'unknown_dtype': checkpoints for this engine do not use them.
 *
 * The fast paths view aligned copies through typed arrays, which use the host's byte order; on a
 * big-endian host the copies are byte-swapped first, so the file stays little-endian everywhere.
 */
import { EngineError } from '../errors.ts';
import { DTYPE_BYTES, FLOAT_DTYPES, numel } from '../model/tensor.ts';
import type { DType, HostTensor, StateDict } from '../model/tensor.ts';

export type SafetensorsErrorCode =
  | 'header_too_large'
  | 'truncated'
  | 'bad_header_json'
  | 'bad_header'
  | 'unknown_dtype'
  | 'bad_offsets'
  | 'size_mismatch'
  | 'duplicate_name'
  | 'missing_tensor';

export class SafetensorsError extends EngineError<SafetensorsErrorCode> {}

/** Random-access bytes: an in-memory buffer, a file, or (elsewhere) an object store with range reads. */
export interface ByteSource {
  readonly size: number;
  /** exactly `length` bytes from `offset`; the result may alias the source, so never mutate it */
  read(offset: number, length: number): Promise<Uint8Array>;
  close?(): Promise<void>;
}

/** A tensor as described by the header; `begin`/`end` are absolute file offsets. */
export interface TensorEntry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** in file order (by data offset) */
  entries: Map<string, TensorEntry>;
  metadata: Record<string, string>;
  /** absolute offset of the byte buffer: 8 + header length */
  dataStart: number;
}

/** Same limit as the reference implementation: 100 MB of header JSON. */
export const MAX_HEADER_BYTES = 100_000_000;
/** Largest single positional read/write (Node caps one call at 2 GiB - 1). */
export const MAX_IO_CHUNK = 1 << 30;
const METADATA_KEY = '__metadata__';
const ENTRY_FIELDS = new Set(['dtype', 'shape', 'data_offsets']);
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------------
// Sources

function checkRange(size: number, offset: number, length: number, what: string): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new RangeError(`${what}: invalid read of ${length} bytes at ${offset}`);
  }
  if (offset + length > size) {
    throw new SafetensorsError('truncated', `${what}: read of ${length} bytes at ${offset} runs past the end (${size} bytes)`);
  }
}

/** A source over bytes already in memory; reads are views, not copies. */
export function bufferSource(buf: Uint8Array): ByteSource {
  return {
    size: buf.length,
    async read(offset: number, length: number): Promise<Uint8Array> {
      checkRange(buf.length, offset, length, 'buffer');
      return buf.subarray(offset, offset + length);
    },
  };
}

/** Reads `length` bytes at `position` into `buffer` from `offset`; resolves to the count read (0 at the end). */
export type PositionalRead = (buffer: Uint8Array, offset: number, length: number, position: number) => Promise<number>;

/**
 * A source over positional reads (a file handle, as the Node adapter opens one): range checks, short
 * reads and the 2 GiB cap on one read are handled here, so the host supplies only the read itself.
 */
export function positionalSource(name: string, size: number, readAt: PositionalRead, close?: () => Promise<void>): ByteSource {
  let closed = false;
  return {
    size,
    async read(offset: number, length: number): Promise<Uint8Array> {
      checkRange(size, offset, length, name);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const bytesRead = await readAt(out, done, Math.min(length - done, MAX_IO_CHUNK), offset + done);
        if (bytesRead === 0) {
          throw new SafetensorsError('truncated', `${name}: unexpected end of file at byte ${offset + done}`);
        }
        done += bytesRead;
      }
      return out;
    },
    async close(): Promise<void> {
      if (closed || !close) return;
      closed = true;
      await close();
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Half-precision conversions (bit level, round to nearest even)

let f16Table: Uint32Array | null = null;

/** float32 bit patterns of all 65536 half values (NaN payloads kept). */
function halfToFloatBitsTable(): Uint32Array {
  if (f16Table) return f16Table;
  const t = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    let mant = h & 0x3ff;
    let bits: number;
    if (exp === 0x1f) bits = sign | 0x7f800000 | (mant << 13); // inf, NaN
    else if (exp !== 0) bits = sign | ((exp + 112) << 23) | (mant << 13);
    else if (mant === 0) bits = sign; // signed zero
    else {
      // subnormal m * 2^-24: normalise
      let e = 113;
      while ((mant & 0x400) === 0) {
        mant <<= 1;
        e--;
      }
      bits = sign | (e << 23) | ((mant & 0x3ff) << 13);
    }
    t[h] = bits >>> 0;
  }
  f16Table = t;
  return t;
}

/** float32 bits -> half bits, round to nearest even; overflow -> inf; NaN stays NaN. */
export function floatBitsToHalf(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const abs = f & 0x7fffffff;
  if (abs >= 0x38800000) {
    if (abs >= 0x7f800000) {
      // inf, or NaN keeping the top of its payload (never collapsing to inf)
      const payload = (abs & 0x7fffff) >>> 13;
      return abs === 0x7f800000 ? sign | 0x7c00 : sign | 0x7c00 | (payload === 0 ? 0x200 : payload);
    }
    // normal half range (>= 2^-14): round the 13 dropped bits to nearest even without branching (a
    // carry ripples into the exponent), then rebias the exponent from 127 to 15
    const h = ((abs + 0xfff + ((abs >>> 13) & 1)) >>> 13) - (112 << 10);
    return sign | (h >= 0x7c00 ? 0x7c00 : h);
  }
  const hexp = (abs >>> 23) - 112; // biased half exponent, <= 0 here
  if (hexp < -10) return sign; // at most half the smallest subnormal (2^-25): zero
  const m = (abs & 0x7fffff) | 0x800000;
  const shift = 14 - hexp; // 14..24
  let k = m >>> shift;
  const rem = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (k & 1) === 1)) k++; // may carry into the smallest normal
  return sign | k;
}

/** float32 bits -> bfloat16 bits, round to nearest even; NaN stays NaN. */
export function floatBitsToBf16(f: number): number {
  f >>>= 0;
  if ((f & 0x7f800000) === 0x7f800000 && (f & 0x7fffff) !== 0) {
    const hi = f >>> 16;
    return (hi & 0x7f) === 0 ? hi | 0x40 : hi;
  }
  return (f + 0x7fff + ((f >>> 16) & 1)) >>> 16; // < 2^32 for every non-NaN pattern
}

// ---------------------------------------------------------------------------------------------------
// Byte order helpers

function swapInPlace(bytes: Uint8Array, width: number): void {
  if (width === 1) return;
  for (let i = 0; i + width <= bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

/** An ArrayBuffer holding `bytes` in host order, for viewing as elements of `width` bytes. */
function hostBuffer(bytes: Uint8Array, width: number): ArrayBuffer {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  if (!LITTLE_ENDIAN_HOST) swapInPlace(out, width);
  return out.buffer;
}

/** View `bytes` directly when aligned and host order matches, else via an aligned copy. */
function viewOrCopy(bytes: Uint8Array, width: number): { buffer: ArrayBufferLike; byteOffset: number } {
  if (LITTLE_ENDIAN_HOST && bytes.byteOffset % width === 0) return { buffer: bytes.buffer, byteOffset: bytes.byteOffset };
  return { buffer: hostBuffer(bytes, width), byteOffset: 0 };
}

function toLittleEndianBytes(view: ArrayBufferView, width: number): Uint8Array {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  if (LITTLE_ENDIAN_HOST) return bytes;
  const copy = bytes.slice();
  swapInPlace(copy, width);
  return copy;
}

// ---------------------------------------------------------------------------------------------------
// Header parsing

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const isDType = (d: string): d is DType => Object.hasOwn(DTYPE_BYTES, d);

/**
 * Walk JSON text that JSON.parse accepted and return the top-level keys in text order, failing on
 * any key repeated within one object (JSON.parse would silently keep the last one).
 */
function scanKeys(text: string): string[] {
  interface Frame {
    keys: Set<string> | null; // null for arrays
    expectKey: boolean;
    key: string;
  }
  const stack: Frame[] = [];
  const topKeys: string[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let j = i + 1;
      let escaped = false;
      for (;;) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) {
          escaped = true;
          j += 2;
        } else if (d === 0x22) break;
        else j++;
      }
      const f = stack[stack.length - 1];
      if (f && f.keys && f.expectKey) {
        const key: string = escaped ? JSON.parse(text.slice(i, j + 1)) : text.slice(i + 1, j);
        if (f.keys.has(key)) {
          if (stack.length === 1) {
            throw new SafetensorsError('duplicate_name', `header names "${key}" more than once`);
          }
          throw new SafetensorsError('bad_header', `entry "${stack[0].key}": key "${key}" appears more than once`);
        }
        f.keys.add(key);
        f.key = key;
        f.expectKey = false;
        if (stack.length === 1) topKeys.push(key);
      }
      i = j + 1;
      continue;
    }
    if (c === 0x7b) stack.push({ keys: new Set(), expectKey: true, key: '' });
    else if (c === 0x5b) stack.push({ keys: null, expectKey: false, key: '' });
    else if (c === 0x7d || c === 0x5d) stack.pop();
    else if (c === 0x2c) {
      const f = stack[stack.length - 1];
      if (f && f.keys) f.expectKey = true;
    }
    i++;
  }
  return topKeys;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

interface RawEntry {
  entry: TensorEntry;
  off0: number;
  off1: number;
  order: number;
}

/** Parse and validate the header; the byte buffer itself is not read. */
export async function readHeader(src: ByteSource): Promise<SafetensorsHeader> {
  if (src.size < 8) throw new SafetensorsError('truncated', `file has ${src.size} bytes, fewer than the 8-byte header length`);
  const lenBytes = await src.read(0, 8);
  const n64 = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError('header_too_large', `header length ${n64} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  }
  const n = Number(n64);
  const dataStart = 8 + n;
  if (dataStart > src.size) {
    throw new SafetensorsError('truncated', `header claims ${n} bytes but the file has only ${src.size - 8} after the length`);
  }
  const headerBytes = await src.read(8, n);

  let text: string;
  let parsed: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
    parsed = JSON.parse(text);
  } catch (err) {
    throw new SafetensorsError('bad_header_json', `header is not UTF-8 JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(parsed)) throw new SafetensorsError('bad_header', 'header JSON must be an object');
  const keys = scanKeys(text);

  const metadata: Record<string, string> = {};
  const raws: RawEntry[] = [];
  for (const name of keys) {
    const value = parsed[name];
    if (name === METADATA_KEY) {
      if (!isPlainObject(value)) throw new SafetensorsError('bad_header', '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') throw new SafetensorsError('bad_header', `__metadata__ value "${k}" is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (!isPlainObject(value)) throw new SafetensorsError('bad_header', `tensor "${name}": entry must be an object`);
    for (const field of Object.keys(value)) {
      if (!ENTRY_FIELDS.has(field)) throw new SafetensorsError('bad_header', `tensor "${name}": unknown field "${field}"`);
    }
    const { dtype, shape, data_offsets: offsets } = value;
    if (typeof dtype !== 'string') throw new SafetensorsError('bad_header', `tensor "${name}": dtype missing or not a string`);
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      throw new SafetensorsError('bad_header', `tensor "${name}": shape must be an array of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      throw new SafetensorsError('bad_header', `tensor "${name}": data_offsets must be two non-negative integers`);
    }
    if (!isDType(dtype)) throw new SafetensorsError('unknown_dtype', `tensor "${name}": unsupported dtype "${dtype}"`);
    const [off0, off1] = offsets as [number, number];
    if (off0 > off1) throw new SafetensorsError('bad_offsets', `tensor "${name}": data_offsets [${off0}, ${off1}] run backwards`);
    const dims = (shape as number[]).map((d) => (d === 0 ? 0 : d)); // -0 -> 0
    const want = dims.reduce((a, d) => a * BigInt(d), 1n) * BigInt(DTYPE_BYTES[dtype]);
    if (want !== BigInt(off1 - off0)) {
      throw new SafetensorsError(
        'size_mismatch',
        `tensor "${name}": ${dtype}[${dims}] needs ${want} bytes but data_offsets span ${off1 - off0}`,
      );
    }
    raws.push({
      entry: { name, dtype, shape: dims, begin: dataStart + off0, end: dataStart + off1 },
      off0,
      off1,
      order: raws.length,
    });
  }

  // The buffer must be tiled exactly: sorted by offset, each tensor starts where the previous ended.
  const bufLen = src.size - dataStart;
  raws.sort((a, b) => a.off0 - b.off0 || a.off1 - b.off1 || a.order - b.order);
  let last: RawEntry | undefined;
  for (const r of raws) if (!last || r.off1 > last.off1) last = r;
  if (last && last.off1 > bufLen) {
    throw new SafetensorsError(
      'truncated',
      `tensor "${last.entry.name}" ends at buffer byte ${last.off1} but the buffer has only ${bufLen} bytes`,
    );
  }
  let cursor = 0;
  let prev: RawEntry | undefined;
  for (const r of raws) {
    if (r.off0 > cursor) {
      throw new SafetensorsError(
        'bad_offsets',
        prev
          ? `gap of ${r.off0 - cursor} bytes between tensors "${prev.entry.name}" and "${r.entry.name}"`
          : `tensor "${r.entry.name}" starts at buffer byte ${r.off0}, not 0`,
      );
    }
    if (r.off0 < cursor) {
      throw new SafetensorsError('bad_offsets', `tensor "${r.entry.name}" overlaps tensor "${prev!.entry.name}"`);
    }
    cursor = r.off1;
    prev = r;
  }
  if (cursor !== bufLen) {
    throw new SafetensorsError('bad_offsets', `${bufLen - cursor} bytes of data after the last tensor`);
  }
  return { entries: new Map(raws.map((r) => [r.entry.name, r.entry])), metadata, dataStart };
}

// ---------------------------------------------------------------------------------------------------
// Decoding

/** The tensor `entry` describes, from its little-endian bytes. */
export function decodeTensor(entry: Pick<TensorEntry, 'dtype' | 'shape'>, bytes: Uint8Array): HostTensor {
  const { dtype } = entry;
  const shape = entry.shape.slice();
  const n = numel(shape);
  switch (dtype) {
    case 'F32': {
      const data = new Float32Array(n);
      new Uint8Array(data.buffer).set(bytes); // memcpy
      if (!LITTLE_ENDIAN_HOST) swapInPlace(new Uint8Array(data.buffer), 4);
      return { kind: 'float', dtype, shape, data };
    }
    case 'F64': {
      const { buffer, byteOffset } = viewOrCopy(bytes, 8);
      const data = new Float32Array(new Float64Array(buffer, byteOffset, n)); // rounds to nearest f32
      return { kind: 'float', dtype, shape, data };
    }
    case 'F16':
    case 'BF16': {
      const { buffer, byteOffset } = viewOrCopy(bytes, 2);
      const src = new Uint16Array(buffer, byteOffset, n);
      const data = new Float32Array(n);
      const out = new Uint32Array(data.buffer); // write bit patterns: NaN payloads survive
      if (dtype === 'BF16') {
        for (let i = 0; i < n; i++) out[i] = src[i] << 16;
      } else {
        const table = halfToFloatBitsTable();
        for (let i = 0; i < n; i++) out[i] = table[src[i]];
      }
      return { kind: 'float', dtype, shape, data };
    }
    default:
      return { kind: 'int', dtype, shape, bytes: bytes.slice() };
  }
}

/** Read and decode one tensor; the result owns its memory. */
export async function readTensor(src: ByteSource, entry: TensorEntry): Promise<HostTensor> {
  const length = entry.end - entry.begin;
  const want = numel(entry.shape) * DTYPE_BYTES[entry.dtype];
  if (length !== want) {
    throw new SafetensorsError('size_mismatch', `tensor "${entry.name}": ${entry.dtype}[${entry.shape}] needs ${want} bytes, entry spans ${length}`);
  }
  if (entry.end > src.size) {
    throw new SafetensorsError('truncated', `tensor "${entry.name}" ends at byte ${entry.end} but the source has ${src.size}`);
  }
  const bytes = await src.read(entry.begin, length);
  if (bytes.length !== length) {
    throw new SafetensorsError('truncated', `tensor "${entry.name}": got ${bytes.length} of ${length} bytes`);
  }
  return decodeTensor(entry, bytes);
}

/**
 * Read all tensors, or those in `names`, one at a time in file order (so at most one tensor's raw
 * bytes are in flight). Does not close the source.
 */
export async function readSafetensors(
  src: ByteSource,
  names?: Iterable<string>,
): Promise<{ tensors: StateDict; metadata: Record<string, string> }> {
  const header = await readHeader(src);
  let selected: TensorEntry[];
  if (names === undefined) selected = [...header.entries.values()];
  else {
    const wanted = new Set(names);
    for (const name of wanted) {
      if (!header.entries.has(name)) throw new SafetensorsError('missing_tensor', `no tensor named "${name}" in the file`);
    }
    selected = [...header.entries.values()].filter((e) => wanted.has(e.name));
  }
  const tensors: StateDict = new Map();
  for (const entry of selected) tensors.set(entry.name, await readTensor(src, entry));
  return { tensors, metadata: header.metadata };
}

// ---------------------------------------------------------------------------------------------------
// Encoding

export type TensorInput = StateDict | Record<string, HostTensor>;

interface Layout {
  /** 8-byte length plus padded header JSON */
  prefix: Uint8Array;
  items: [string, HostTensor][];
  dataBytes: number;
}

function byteLength(t: HostTensor): number {
  return numel(t.shape) * DTYPE_BYTES[t.dtype];
}

function validateForWrite(name: string, t: HostTensor): void {
  if (name === METADATA_KEY) throw new SafetensorsError('bad_header', `"${METADATA_KEY}" cannot be a tensor name`);
  if (!Array.isArray(t.shape) || !t.shape.every(isCount)) {
    throw new SafetensorsError('bad_header', `tensor "${name}": shape must be an array of non-negative integers`);
  }
  const n = numel(t.shape);
  if (t.kind === 'float') {
    if (!(FLOAT_DTYPES as readonly string[]).includes(t.dtype)) {
      throw new SafetensorsError('unknown_dtype', `tensor "${name}": "${t.dtype}" is not a float dtype`);
    }
    if (t.data.length !== n) {
      throw new SafetensorsError('size_mismatch', `tensor "${name}": shape [${t.shape}] needs ${n} values, data has ${t.data.length}`);
    }
  } else {
    if (!isDType(t.dtype) || (FLOAT_DTYPES as readonly string[]).includes(t.dtype)) {
      throw new SafetensorsError('unknown_dtype', `tensor "${name}": "${t.dtype}" is not an integer dtype`);
    }
    const want = n * DTYPE_BYTES[t.dtype];
    if (t.bytes.length !== want) {
      throw new SafetensorsError('size_mismatch', `tensor "${name}": ${t.dtype}[${t.shape}] needs ${want} bytes, has ${t.bytes.length}`);
    }
  }
}

function planLayout(tensors: TensorInput, metadata?: Record<string, string>): Layout {
  const items: [string, HostTensor][] = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    if (!isPlainObject(metadata)) throw new SafetensorsError('bad_header', 'metadata must be an object of strings');
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError('bad_header', `metadata value "${k}" is not a string`);
    }
    header[METADATA_KEY] = { ...metadata };
  }
  let offset = 0;
  for (const [name, t] of items) {
    validateForWrite(name, t);
    const end = offset + byteLength(t);
    // defineProperty: a tensor named "__proto__" must become a key, not the object's prototype
    Object.defineProperty(header, name, {
      value: { dtype: t.dtype, shape: t.shape.map((d) => (d === 0 ? 0 : d)), data_offsets: [offset, end] },
      enumerable: true,
      writable: true,
      configurable: true,
    });
    offset = end;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const n = Math.ceil(json.length / 8) * 8;
  if (n > MAX_HEADER_BYTES) throw new SafetensorsError('header_too_large', `header would be ${n} bytes, over ${MAX_HEADER_BYTES}`);
  const prefix = new Uint8Array(8 + n).fill(0x20);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(n), true);
  prefix.set(json, 8);
  return { prefix, items, dataBytes: offset };
}

/** The little-endian bytes of a tensor in its dtype (a view where no conversion is needed). */
function encodeTensor(t: HostTensor): Uint8Array {
  if (t.kind === 'int') return t.bytes;
  const { data } = t;
  switch (t.dtype) {
    case 'F32':
      return toLittleEndianBytes(data, 4);
    case 'F64':
      return toLittleEndianBytes(new Float64Array(data), 8);
    case 'F16':
    case 'BF16': {
      const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
      const out = new Uint16Array(data.length);
      if (t.dtype === 'F16') for (let i = 0; i < bits.length; i++) out[i] = floatBitsToHalf(bits[i]);
      else for (let i = 0; i < bits.length; i++) out[i] = floatBitsToBf16(bits[i]);
      return toLittleEndianBytes(out, 2);
    }
  }
}

/**
 * The bytes of a safetensors file as consecutive chunks: the header, then each tensor in turn,
 * encoded only when it is reached, so a writer never holds the whole file. Everything is validated
 * before this returns: a bad tensor throws before the first chunk is written anywhere.
 */
export function safetensorsChunks(tensors: TensorInput, metadata?: Record<string, string>): { bytes: number; chunks: Iterable<Uint8Array> } {
  const { prefix, items, dataBytes } = planLayout(tensors, metadata);
  return {
    bytes: prefix.length + dataBytes,
    chunks: (function* () {
      yield prefix;
      for (const [, t] of items) yield encodeTensor(t);
    })(),
  };
}

/**
 * Encode tensors (in insertion order; note that a plain object lists integer-like keys first) as
 * one safetensors buffer. FloatTensors are written in their `dtype`.
 */
export function encodeSafetensors(tensors: TensorInput, metadata?: Record<string, string>): Uint8Array {
  const { bytes, chunks } = safetensorsChunks(tensors, metadata);
  return concatBytes(chunks, bytes);
}

/**
 * The parts one after another in one buffer. Given their summed length (`total`), parts are copied
 * as the iterable yields them, so a lazy one (safetensorsChunks) is never held whole.
 */
export function concatBytes(parts: Iterable<Uint8Array>, total?: number): Uint8Array {
  if (total === undefined) {
    const list = [...parts];
    return concatBytes(list, list.reduce((n, p) => n + p.length, 0));
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
