/**
 * Any checkpoint input, its format sniffed from the bytes (never the file name): a safetensors file,
 * a torch.save zip, a .zip / .tar / .tar.gz of a model folder, or a folder (directory, archive, S3
 * prefix) holding config.json + weights, sharded weights + their index, or a tfjs model.json +
 * shards. Everything else is `unsupported_format`, naming what it looks like and how to convert it.
 */
import { MAX_HEADER_BYTES, readHeader, type ByteSource } from './safetensors.ts';
import { isFloatDType, type HostTensor } from '../model/tensor.ts';
import type { TensorShapes } from '../model/graph.ts';
import { DEFAULT_ARCHIVE_LIMITS, type ArchiveLimits, type ArchiveReaders } from './archive.ts';
import { CheckpointError, CONVERT_HINT } from './errors.ts';
import { isFileTree, rootedTree, type FileTree, type Input } from './fileTree.ts';
import { isLegacyTorch, LEGACY_HINT, torchCheckpoint, torchRecordPrefix } from './torch.ts';
import { readJsonFile, tfjsCheckpoint, tfjsKind } from './tfjs.ts';
import { safetensorsCheckpoint, type Checkpoint, type CheckpointTensor } from './checkpointTypes.ts';

export type { Checkpoint, CheckpointTensor } from './checkpointTypes.ts';

type Sniffed = 'safetensors' | 'zip' | 'tar' | 'gzip' | 'legacy-torch' | 'pickle' | 'json' | 'hdf5' | 'gguf' | 'numpy' | 'unknown';

const ascii = (b: Uint8Array, from: number, to: number) => String.fromCharCode(...b.subarray(from, to));

/** What the first bytes of a file say it is. */
export function sniff(head: Uint8Array, size: number): Sniffed {
  if (head.length >= 9) {
    const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
    if (n > 1n && n <= BigInt(MAX_HEADER_BYTES) && 8 + Number(n) <= size && head[8] === 0x7b) return 'safetensors';
  }
  if (ascii(head, 0, 4) === 'PK\x03\x04' || ascii(head, 0, 4) === 'PK\x05\x06') return 'zip';
  if (head.length >= 262 && ascii(head, 257, 262) === 'ustar') return 'tar';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (isLegacyTorch(head)) return 'legacy-torch';
  if (head[0] === 0x80 && head[1] >= 2 && head[1] <= 5) return 'pickle';
  if (ascii(head, 0, 8) === '\x89HDF\r\n\x1a\n') return 'hdf5';
  if (ascii(head, 0, 4) === 'GGUF') return 'gguf';
  if (ascii(head, 0, 6) === '\x93NUMPY') return 'numpy';
  const text = new TextDecoder().decode(head.subarray(0, 64)).trimStart();
  if (text.startsWith('{')) return 'json';
  return 'unknown';
}

const UNSUPPORTED: Partial<Record<Sniffed, string>> = {
  pickle: 'a plain Python pickle, not a torch.save zip file',
  hdf5: 'an HDF5 file (Keras .h5); convert it to a tfjs LayersModel: tensorflowjs_converter --input_format keras model.h5 out/',
  gguf: 'a GGUF file (llama.cpp)',
  numpy: 'a NumPy .npy array',
  json: 'a JSON file with no weights; give the folder (or a .zip / .tar of it) that holds the weights too',
};

function unsupported(label: string, kind: Sniffed, head: Uint8Array): CheckpointError {
  const looks = UNSUPPORTED[kind] ?? `not a format basin reads (first bytes ${[...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ')})`;
  return new CheckpointError('unsupported_format', `${label}: ${looks}. basin reads safetensors (single or sharded), torch.save zip files, Hugging Face model folders and tfjs LayersModels; ${CONVERT_HINT}`);
}

/**
 * Whether a file is in a format openCheckpoint reads as a single file (safetensors whose header
 * parses, a zip, a tar or a gzip): a yes or no that quotes nothing of the bytes, for inputs whose
 * bytes a remote server chose.
 */
export async function isReadableFormat(src: ByteSource): Promise<boolean> {
  const kind = sniff(await src.read(0, Math.min(src.size, 512)), src.size);
  if (kind === 'safetensors') return readHeader(src).then(() => true, () => false);
  return kind === 'zip' || kind === 'tar' || kind === 'gzip';
}

/** How a checkpoint's files are reached: the host's archive readers and the bounds they keep. */
interface Reading {
  archives: ArchiveReaders;
  limits: ArchiveLimits;
}

/** A single file: safetensors, a torch.save zip, or (at the top level only) an archive of a folder. */
async function fromFile(src: ByteSource, label: string, how: Reading, topLevel: boolean): Promise<Checkpoint> {
  try {
    return await sniffed(src, label, how, topLevel);
  } catch (e) {
    await src.close?.();
    throw e;
  }
}

async function sniffed(src: ByteSource, label: string, how: Reading, topLevel: boolean): Promise<Checkpoint> {
  const head = await src.read(0, Math.min(src.size, 512));
  const kind = sniff(head, src.size);
  if (kind === 'safetensors') return safetensorsCheckpoint(src, label);
  if (kind === 'legacy-torch') throw new CheckpointError('legacy_torch_format', `${label}: ${LEGACY_HINT}`);
  if (kind === 'zip') {
    const zip = await how.archives.zip(src, label, how.limits);
    if (torchRecordPrefix(zip.files) !== undefined) return torchCheckpoint(zip, label);
    if (topLevel) return fromTree(rootedTree(zip), how);
    throw new CheckpointError('unsupported_format', `${label}: a zip archive inside a folder; basin reads the folder itself, or one archive of it`);
  }
  if ((kind === 'tar' || kind === 'gzip') && topLevel) return fromTree(rootedTree(await how.archives.tar(src, label, how.limits)), how);
  throw unsupported(label, kind, head);
}

/** Files in a folder that hold training state, not weights. */
const NOT_WEIGHTS = /(^|\/)(optimizer|scheduler|scaler|rng_state[^/]*|training_args|trainer_state)\.(pt|pth|bin|json)$/;
const WEIGHTS = /\.(safetensors|pt|pth|bin|ckpt|pth\.tar)$/;
const PREFERRED = ['model.safetensors.index.json', 'model.safetensors', 'pytorch_model.bin.index.json', 'pytorch_model.bin'];
const MAX_CONFIG_JSON = 16 * 1024 ** 2;

/** The file (or index) in a folder that holds the weights. */
function weightsFile(tree: FileTree): string {
  for (const p of PREFERRED) if (tree.files.has(p)) return p;
  const paths = [...tree.files.keys()];
  const indexes = paths.filter((p) => /\.(safetensors|bin)\.index\.json$/.test(p));
  if (indexes.length === 1) return indexes[0];
  const candidates = paths.filter((p) => WEIGHTS.test(p) && !NOT_WEIGHTS.test(p));
  const safetensors = candidates.filter((p) => p.endsWith('.safetensors'));
  if (candidates.length === 1) return candidates[0];
  if (safetensors.length === 1) return safetensors[0];
  const listing = paths.slice(0, 20).join(', ') + (paths.length > 20 ? ', ...' : '');
  const skipped = tree.skipped?.length ? `; not read: ${tree.skipped.slice(0, 5).join(', ')}` : '';
  if (candidates.length === 0) throw new CheckpointError('no_weights_found', `${tree.label}: no weights file (model.safetensors, pytorch_model.bin, *.safetensors, *.pt, *.pth, or model.json for tfjs) among ${listing || 'no files'}${skipped}`);
  throw new CheckpointError('ambiguous_checkpoint', `${tree.label}: several weight files (${candidates.slice(0, 10).join(', ')}) and no index; give one file`);
}

/** Sharded weights: every shard's tensors, checked against the index's weight_map. */
async function fromIndex(tree: FileTree, indexPath: string, how: Reading): Promise<Checkpoint> {
  const label = `${tree.label}/${indexPath}`;
  const index = (await readJsonFile(tree, indexPath, MAX_CONFIG_JSON)) as { weight_map?: Record<string, unknown> };
  const map = index?.weight_map;
  if (!map || typeof map !== 'object' || Object.values(map).some((v) => typeof v !== 'string')) throw new CheckpointError('bad_index', `${label}: needs "weight_map": {tensor name: shard file}`);
  const dir = indexPath.includes('/') ? indexPath.slice(0, indexPath.lastIndexOf('/') + 1) : '';
  const shardNames = [...new Set(Object.values(map) as string[])];
  const shards: Checkpoint[] = [];
  const tensors = new Map<string, CheckpointTensor>();
  try {
    for (const name of shardNames) {
      const path = dir + name;
      if (!tree.files.has(path)) throw new CheckpointError('missing_file', `${label}: shard "${path}" is missing`);
      const shard = await fromFile(await tree.open(path), `${tree.label}/${path}`, how, false);
      shards.push(shard);
      for (const [t, info] of shard.tensors) {
        if (tensors.has(t)) throw new CheckpointError('duplicate_name', `${label}: tensor "${t}" is in more than one shard`);
        tensors.set(t, info);
      }
    }
    for (const [t, shard] of Object.entries(map)) {
      const owner = shards[shardNames.indexOf(shard as string)];
      if (!owner.tensors.has(t)) throw new CheckpointError('bad_index', `${label}: the index puts "${t}" in ${shard}, which has no such tensor`);
    }
  } catch (e) {
    for (const s of shards) await s.close();
    throw e;
  }
  const kind = shards[0]?.format === 'torch' ? 'torch-sharded' : 'safetensors-sharded';
  return {
    format: kind, label, tensors,
    notes: [`${shardNames.length} shard${shardNames.length === 1 ? '' : 's'} read through ${indexPath}`, ...shards.flatMap((s) => s.notes)],
    close: async () => { for (const s of shards) await s.close(); },
  };
}

/** A model folder: tfjs model.json, sharded or single weights, and config.json when present. */
async function fromTree(tree: FileTree, how: Reading): Promise<Checkpoint> {
  let ck: Checkpoint;
  try {
    // a model.json that is not JSON cannot be a tfjs model: the folder may still hold other weights
    const modelJson = tree.files.has('model.json') ? await readJsonFile(tree, 'model.json', 64 * 1024 ** 2).catch(() => undefined) : undefined;
    if (tfjsKind(modelJson)) ck = await tfjsCheckpoint(tree, 'model.json');
    else {
      const file = weightsFile(tree);
      ck = file.endsWith('.index.json') ? await fromIndex(tree, file, how) : await fromFile(await tree.open(file), `${tree.label}/${file}`, how, false);
      if (!file.endsWith('.index.json')) ck.notes.unshift(`weights read from ${file}`);
    }
    if (tree.files.has('config.json')) {
      // only detection reads it: a config.json basin cannot parse must not stop a merge that names its architecture
      const config = await readJsonFile(tree, 'config.json', MAX_CONFIG_JSON).catch((e: Error) => { ck.notes.push(`config.json not used: ${e.message}`); return undefined; });
      if (config && typeof config === 'object' && !Array.isArray(config)) ck.config = config as Record<string, unknown>;
    }
  } catch (e) {
    await tree.close?.();
    throw e;
  }
  if (tree.skipped?.length) ck.notes.push(`not read (formats basin does not load): ${tree.skipped.slice(0, 5).join(', ')}${tree.skipped.length > 5 ? ', ...' : ''}`);
  const inner = ck.close;
  return { ...ck, label: tree.label, close: async () => { await inner(); await tree.close?.(); } };
}

/** Prefixes wrappers add to every name (DataParallel / DDP, torch.compile): never part of the model. */
const WRAPPER_PREFIXES = ['module.', '_orig_mod.'];

/** Cut `prefix` from every tensor name (every name has it), said in a note; the merged file keeps the short names. */
export function stripPrefix(ck: Checkpoint, prefix: string, why: string): Checkpoint {
  ck.tensors = new Map([...ck.tensors].map(([n, t]) => [n.slice(prefix.length), { ...t, name: n.slice(prefix.length) }]));
  ck.notes.push(`the prefix "${prefix}" (${why}) was removed from every tensor name`);
  return ck;
}

export const allHavePrefix = (ck: Checkpoint, prefix: string) => ck.tensors.size > 0 && [...ck.tensors.keys()].every((n) => n.startsWith(prefix));

function withoutWrapperPrefixes(ck: Checkpoint): Checkpoint {
  for (;;) {
    const prefix = WRAPPER_PREFIXES.find((p) => allHavePrefix(ck, p));
    if (!prefix) return ck;
    stripPrefix(ck, prefix, `added by ${prefix === 'module.' ? 'DataParallel / DistributedDataParallel' : 'torch.compile'}`);
  }
}

/** Open any checkpoint input, archives through the host's readers (nodeHost.archives on Node). Close the result when done. */
export async function openCheckpoint(input: Input, label: string, archives: ArchiveReaders, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS): Promise<Checkpoint> {
  const how = { archives, limits };
  let ck: Checkpoint;
  try {
    ck = isFileTree(input) ? await fromTree(rootedTree(input), how) : await fromFile(input, label, how, true);
  } catch (e) {
    if (!isFileTree(input)) await input.close?.();
    throw e;
  }
  if (ck.tensors.size === 0) {
    await ck.close();
    throw new CheckpointError('no_tensors', `${label}: the checkpoint holds no tensors`);
  }
  return withoutWrapperPrefixes(ck);
}

/** Names, shapes and kinds: what a graph is checked against. */
export const checkpointShapes = (ck: Checkpoint): TensorShapes =>
  new Map([...ck.tensors].map(([k, t]) => [k, { shape: t.shape, kind: isFloatDType(t.dtype) ? 'float' as const : 'int' as const }]));

/** Read a tensor and refuse NaN or infinite values, naming the tensor: before any work is done. */
export async function readFinite(ck: Checkpoint, name: string, what: string): Promise<HostTensor> {
  const info = ck.tensors.get(name);
  if (!info) throw new CheckpointError('missing_tensor', `${what}: no tensor named "${name}"`);
  const t = await info.read();
  if (t.kind === 'float') {
    let bad = 0;
    let first = -1;
    for (let i = 0; i < t.data.length; i++) if (!Number.isFinite(t.data[i])) { bad++; if (first < 0) first = i; }
    if (bad) throw new CheckpointError('non_finite_weights', `${what}: tensor "${name}" holds ${bad} NaN or infinite value${bad === 1 ? '' : 's'} (first at flat index ${first}); a diverged or corrupted checkpoint cannot be merged`);
  }
  return t;
}
