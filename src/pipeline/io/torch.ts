/**
 * PyTorch `torch.save` files (the zip format of torch >= 1.6: `<name>/data.pkl`, `<name>/data/<key>`
 * storages, `<name>/byteorder`). data.pkl goes through the restricted unpickler with the globals
 * PyTorch uses to rebuild a state_dict of tensors, and a few inert plain-data types that training
 * scripts save next to it (argparse.Namespace, numpy scalars); everything else is refused. Tensors
 * are views (offset, shape, stride) into storages that are read, in place, only when asked for.
 */
import { DTYPE_BYTES, numel, type DType, type HostTensor } from '../model/tensor.ts';
import { decodeTensor, type ByteSource } from './safetensors.ts';
import { CheckpointError, CONVERT_HINT } from './errors.ts';
import type { FileTree } from './fileTree.ts';
import { PyDict, PyGlobal, PyObject, PyTuple, stringEntries, unpickle, type GlobalEntry, type PyValue } from './pickle.ts';
import { tensorBytes, type Checkpoint, type CheckpointTensor } from './checkpointTypes.ts';

/** `\x80\x02` then LONG1 of torch's legacy magic number 0x1950a86a20f9469cfc6c. */
const LEGACY_MAGIC = Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);
export const isLegacyTorch = (head: Uint8Array) => head.length >= LEGACY_MAGIC.length && LEGACY_MAGIC.every((b, i) => head[i] === b);
export const LEGACY_HINT = 'this is the legacy (pre-1.6, non-zip) torch.save format; re-save it: torch.save(torch.load(path), path, _use_new_zipfile_serialization=True), or as safetensors: ' + CONVERT_HINT;

const STORAGE_DTYPES: Record<string, DType | undefined> = {
  FloatStorage: 'F32', DoubleStorage: 'F64', HalfStorage: 'F16', BFloat16Storage: 'BF16',
  LongStorage: 'I64', IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
  ComplexFloatStorage: undefined, ComplexDoubleStorage: undefined, QInt8Storage: undefined, QUInt8Storage: undefined, QInt32Storage: undefined,
};
/** Largest data.pkl read (it holds structure, not weights). */
const MAX_PICKLE_BYTES = 512 * 1024 ** 2;

class StorageRef {
  constructor(readonly key: string, readonly type: string, readonly dtype: DType | undefined, readonly numel: number) {}
}
class TorchTensor {
  constructor(readonly storage: StorageRef, readonly offset: number, readonly shape: number[], readonly stride: number[]) {}
}

const ints = (v: PyValue, what: string): number[] => {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : undefined;
  if (!items || !items.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) throw new CheckpointError('bad_pickle', `${what} is not a tuple of sizes`);
  return items as number[];
};

function rebuildTensor(args: PyValue[]): TorchTensor {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof StorageRef)) throw new CheckpointError('bad_pickle', 'a tensor rebuilt from something that is not a storage');
  if (storage.dtype === undefined) throw new CheckpointError('unknown_dtype', `a tensor is stored as torch.${storage.type}; basin reads float, integer and bool tensors (quantized and complex ones are not supported)`);
  if (typeof offset !== 'number') throw new CheckpointError('bad_pickle', 'a tensor offset is not an integer');
  const shape = ints(size, 'a tensor size');
  const strides = ints(stride, 'a tensor stride');
  if (shape.length !== strides.length) throw new CheckpointError('bad_pickle', 'a tensor has sizes and strides of different lengths');
  return new TorchTensor(storage, offset, shape, strides);
}

const marker: GlobalEntry = {};
const passData = (i: number): GlobalEntry => ({ call: (args) => args[i] });
const inert = (type: string): GlobalEntry => ({ call: (args) => new PyObject(type, args) });

/** Every name a torch.save pickle may use, and what it means here. */
function torchGlobals(): Map<string, GlobalEntry> {
  const g: Map<string, GlobalEntry> = new Map<string, GlobalEntry>([
    ['collections.OrderedDict', { call: (args) => {
      const d = new PyDict();
      const items = args[0];
      if (Array.isArray(items)) for (const pair of items) if (pair instanceof PyTuple || Array.isArray(pair)) { const [k, v] = pair instanceof PyTuple ? pair.items : pair; d.map.set(k, v); }
      return d;
    } }],
    ['torch._utils._rebuild_tensor', { call: rebuildTensor }],
    ['torch._utils._rebuild_tensor_v2', { call: rebuildTensor }],
    ['torch._utils._rebuild_parameter', passData(0)],
    ['torch._utils._rebuild_parameter_with_state', passData(0)],
    ['torch._tensor._rebuild_from_type_v2', { call: ([fn, , args]): PyValue => {
      const entry: GlobalEntry | undefined = fn instanceof PyGlobal ? g.get(fn.qualified) : undefined;
      if (!entry?.call || !(args instanceof PyTuple)) throw new CheckpointError('bad_pickle', 'a tensor subclass rebuilt with an unknown function');
      return entry.call(args.items);
    } }],
    ['torch._tensor.Tensor', marker],
    ['torch.Tensor', marker],
    ['torch.nn.parameter.Parameter', marker],
    ['torch.Size', { call: ([v]) => new PyTuple(ints(v, 'a torch.Size')) }],
    // bytes under pickle protocol 2 are written as _codecs.encode(latin-1 text, "latin1")
    ['_codecs.encode', { call: ([text]) => Uint8Array.from(String(text), (c) => c.charCodeAt(0) & 0xff) }],
    ['builtins.set', { call: ([items]) => (Array.isArray(items) ? [...items] : []) }],
    ['builtins.frozenset', { call: ([items]) => (Array.isArray(items) ? [...items] : []) }],
    // what training scripts save next to the weights: kept as inert data, never constructed
    ['argparse.Namespace', inert('argparse.Namespace')],
    ['numpy.core.multiarray.scalar', inert('numpy.scalar')],
    ['numpy._core.multiarray.scalar', inert('numpy.scalar')],
    ['numpy.dtype', inert('numpy.dtype')],
    ['numpy.core.multiarray._reconstruct', inert('numpy.ndarray')],
    ['numpy._core.multiarray._reconstruct', inert('numpy.ndarray')],
    ['numpy.ndarray', marker],
    // PyTorch Lightning's hyper-parameters: a plain dict subclass
    ...['lightning.fabric.utilities.data', 'lightning_fabric.utilities.data', 'pytorch_lightning.utilities.parsing'].map((m): [string, GlobalEntry] => [`${m}.AttributeDict`, { call: () => new PyDict() }]),
  ]);
  for (const unsupported of ['_rebuild_qtensor', '_rebuild_sparse_tensor', '_rebuild_sparse_csr_tensor', '_rebuild_nested_tensor', '_rebuild_meta_tensor_no_storage', '_rebuild_wrapper_subclass', '_rebuild_device_tensor_from_numpy', '_rebuild_xla_tensor', '_rebuild_mps_tensor']) {
    g.set(`torch._utils.${unsupported}`, { call: () => { throw new CheckpointError('unsupported_tensor', `the checkpoint holds tensors rebuilt by torch._utils.${unsupported} (quantized, sparse, nested, meta or device-only tensors); save dense CPU tensors: ${CONVERT_HINT}`); } });
  }
  for (const name of Object.keys(STORAGE_DTYPES)) g.set(`torch.${name}`, marker);
  g.set('torch.UntypedStorage', marker);
  return g;
}

/** Keys under which training scripts nest the weights, most specific first. */
const NESTED_KEYS = ['state_dict', 'model_state_dict', 'model', 'module', 'net', 'network', 'params', 'weights', 'model_ema', 'state_dict_ema', 'ema'];

const tensorCount = (d: PyDict) => stringEntries(d).filter(([, v]) => v instanceof TorchTensor).length;

/** The state_dict in what torch.load would return: the top level, or a nested one (said in a note). */
function findStateDict(root: PyValue, label: string, notes: string[]): PyDict {
  if (!(root instanceof PyDict)) {
    const what = root instanceof TorchTensor ? 'a single tensor' : Array.isArray(root) || root instanceof PyTuple ? 'a list or tuple' : 'not a dict';
    throw new CheckpointError('no_state_dict', `${label}: the saved object is ${what}, not a state_dict; save model.state_dict()`);
  }
  const entries = stringEntries(root);
  if (tensorCount(root) > 0 && entries.every(([, v]) => !(v instanceof PyDict && tensorCount(v) > 0))) return root;
  for (const key of NESTED_KEYS) {
    const v = root.map.get(key);
    if (v instanceof PyDict) {
      const inner = tensorCount(v) > 0 ? v : (() => { try { return findStateDict(v, label, []); } catch { return undefined; } })();
      if (!inner) continue;
      const others = NESTED_KEYS.filter((k) => k !== key && root.map.get(k) instanceof PyDict);
      notes.push(`the weights are the state_dict under key "${key}" of the saved dict${others.length ? ` (not used: ${others.map((k) => `"${k}"`).join(', ')})` : ''}`);
      return inner;
    }
  }
  const withTensors = entries.filter(([, v]) => v instanceof PyDict && tensorCount(v) > 0);
  if (withTensors.length === 1) {
    notes.push(`the weights are the state_dict under key "${withTensors[0][0]}" of the saved dict`);
    return withTensors[0][1] as PyDict;
  }
  throw new CheckpointError('no_state_dict', `${label}: no state_dict found; the saved dict has keys ${entries.slice(0, 20).map(([k]) => `"${k}"`).join(', ') || '(none)'}${withTensors.length > 1 ? ' and several of them hold tensors' : ''}; save model.state_dict() alone`);
}

const contiguousStrides = (shape: number[]) => {
  const out = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) { out[d] = s; s *= shape[d]; }
  return out;
};

/** A tensor's elements in row-major order from its storage bytes (a strided view is gathered). */
async function readView(t: TorchTensor, storage: ByteSource, name: string): Promise<HostTensor> {
  const dtype = t.storage.dtype!;
  const item = DTYPE_BYTES[dtype];
  const n = numel(t.shape);
  if (n === 0) return decodeTensor({ dtype, shape: t.shape }, new Uint8Array(0));
  let extent = 1;
  t.shape.forEach((s, d) => { extent += (s - 1) * t.stride[d]; });
  if ((t.offset + extent) * item > storage.size) throw new CheckpointError('truncated', `tensor "${name}": its storage ${t.storage.key} has ${storage.size} bytes, the tensor needs ${(t.offset + extent) * item}`);
  const raw = await storage.read(t.offset * item, extent * item);
  const std = contiguousStrides(t.shape);
  if (t.shape.every((s, d) => s === 1 || t.stride[d] === std[d])) return decodeTensor({ dtype, shape: t.shape }, raw.slice(0, n * item));
  const out = new Uint8Array(n * item);
  const idx = new Array<number>(t.shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    let src = 0;
    for (let d = 0; d < idx.length; d++) src += idx[d] * t.stride[d];
    out.set(raw.subarray(src * item, (src + 1) * item), i * item);
    for (let d = idx.length - 1; d >= 0; d--) { if (++idx[d] < t.shape[d]) break; idx[d] = 0; }
  }
  return decodeTensor({ dtype, shape: t.shape }, out);
}

/** The record folder of a torch.save zip (`archive/` or the file's stem), if this zip is one. */
export function torchRecordPrefix(files: ReadonlyMap<string, number>): string | undefined {
  const pkl = [...files.keys()].filter((p) => /^[^/]+\/data\.pkl$/.test(p));
  return pkl.length === 1 ? pkl[0].slice(0, -'data.pkl'.length) : undefined;
}

/** A torch.save zip (already opened as a tree of its entries) as a checkpoint. */
export async function torchCheckpoint(zip: FileTree, label: string): Promise<Checkpoint> {
  const prefix = torchRecordPrefix(zip.files);
  if (prefix === undefined) throw new CheckpointError('unsupported_format', `${label}: a zip archive without a torch data.pkl`);
  const notes: string[] = [];
  if (zip.files.has(`${prefix}byteorder`)) {
    const order = new TextDecoder().decode(await (await zip.open(`${prefix}byteorder`)).read(0, zip.files.get(`${prefix}byteorder`)!)).trim();
    if (order !== 'little') throw new CheckpointError('unsupported_format', `${label}: saved on a ${order}-endian machine; basin reads little-endian checkpoints`);
  }
  const pklSize = zip.files.get(`${prefix}data.pkl`)!;
  if (pklSize > MAX_PICKLE_BYTES) throw new CheckpointError('bad_pickle', `${label}: data.pkl is ${pklSize} bytes, more than a state_dict's structure needs`);
  const pkl = await (await zip.open(`${prefix}data.pkl`)).read(0, pklSize);
  const storages = new Map<string, StorageRef>();
  const root = unpickle(pkl, {
    label: `${label} (data.pkl)`,
    globals: torchGlobals(),
    hint: 'if it was saved with torch.save(model), save model.state_dict() instead; or ' + CONVERT_HINT,
    persistentLoad: (pid) => {
      const items = pid instanceof PyTuple ? pid.items : [];
      const [kind, type, key, , count] = items;
      if (kind !== 'storage' || !(type instanceof PyGlobal) || typeof key !== 'string' || typeof count !== 'number') throw new CheckpointError('bad_pickle', `${label}: a persistent id that is not a torch storage`);
      let s = storages.get(key);
      if (!s) {
        s = new StorageRef(key, type.name, STORAGE_DTYPES[type.name], count);
        storages.set(key, s);
      }
      return s;
    },
  });
  const state = findStateDict(root, label, notes);
  const opened = new Map<string, Promise<ByteSource>>();
  const storageSource = (key: string) => {
    let p = opened.get(key);
    if (!p) {
      const path = `${prefix}data/${key}`;
      if (!zip.files.has(path)) throw new CheckpointError('truncated', `${label}: storage ${key} is missing from the archive`);
      p = zip.open(path);
      opened.set(key, p);
    }
    return p;
  };
  const tensors = new Map<string, CheckpointTensor>();
  const skipped: string[] = [];
  for (const [name, v] of stringEntries(state)) {
    if (!(v instanceof TorchTensor)) { skipped.push(name); continue; }
    const dtype = v.storage.dtype!;
    tensors.set(name, { name, dtype, shape: v.shape, bytes: tensorBytes(dtype, v.shape), read: async () => readView(v, await storageSource(v.storage.key), name) });
  }
  if (skipped.length) notes.push(`entries that are not tensors were left out: ${skipped.slice(0, 10).join(', ')}${skipped.length > 10 ? ', ...' : ''}`);
  return { format: 'torch', label, tensors, notes, close: async () => { await zip.close?.(); } };
}
