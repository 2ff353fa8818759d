/**
 * TensorFlow.js LayersModel: `model.json` (`modelTopology` + `weightsManifest`) and its binary weight
 * shards. Each manifest group's shards are one byte stream; its weights lie back to back in manifest
 * order. Quantized weights (uint8 / uint16 with scale and min, or float16) are dequantized on read.
 */
import { numel, type DType, type HostTensor } from '../model/tensor.ts';
import { concatBytes, decodeTensor, type ByteSource } from './safetensors.ts';
import { CheckpointError } from './errors.ts';
import type { FileTree } from './fileTree.ts';
import type { Checkpoint, CheckpointTensor } from './checkpointTypes.ts';

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}
interface ManifestGroup { paths: string[]; weights: WeightSpec[] }

const ELEMENT: Record<string, [number, DType]> = { float32: [4, 'F32'], int32: [4, 'I32'], bool: [1, 'BOOL'] };
const QUANT: Record<string, number> = { uint8: 1, uint16: 2, float16: 2 };
const MAX_MODEL_JSON = 64 * 1024 ** 2;

export async function readJsonFile(tree: FileTree, path: string, max: number): Promise<unknown> {
  const size = tree.files.get(path)!;
  if (size > max) throw new CheckpointError('bad_json', `${tree.label}/${path}: ${size} bytes of JSON, more than the ${max} a model description needs`);
  const src = await tree.open(path);
  try {
    return JSON.parse(new TextDecoder().decode(await src.read(0, size)));
  } catch (e) {
    if (e instanceof SyntaxError) throw new CheckpointError('bad_json', `${tree.label}/${path}: not valid JSON (${e.message})`);
    throw e;
  } finally {
    await src.close?.();
  }
}

/** Whether parsed JSON is a tfjs model.json, and which kind. */
export function tfjsKind(json: unknown): 'layers-model' | 'graph-model' | undefined {
  if (!json || typeof json !== 'object' || !('weightsManifest' in json)) return undefined;
  const j = json as { format?: string; modelTopology?: Record<string, unknown> };
  if (j.format === 'graph-model' || (j.modelTopology && 'node' in j.modelTopology)) return 'graph-model';
  return 'layers-model';
}

/** Bytes [offset, offset+length) of shards read as one stream. */
function concatRead(shards: ByteSource[], offset: number, length: number): Promise<Uint8Array> {
  const parts: Promise<Uint8Array>[] = [];
  let base = 0;
  for (const s of shards) {
    const from = Math.max(offset, base);
    const to = Math.min(offset + length, base + s.size);
    if (from < to) parts.push(s.read(from - base, to - from));
    base += s.size;
  }
  return Promise.all(parts).then((ps) => (ps.length === 1 ? ps[0] : concatBytes(ps)));
}

function dequantize(spec: WeightSpec, bytes: Uint8Array): HostTensor {
  const q = spec.quantization!;
  if (q.dtype === 'float16') return decodeTensor({ dtype: 'F16', shape: spec.shape }, bytes);
  const n = numel(spec.shape);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = new Float32Array(n);
  const scale = q.scale ?? 1;
  const min = q.min ?? 0;
  for (let i = 0; i < n; i++) data[i] = (q.dtype === 'uint8' ? view.getUint8(i) : view.getUint16(2 * i, true)) * scale + min;
  return { kind: 'float', dtype: 'F32', shape: spec.shape, data };
}

/** A LayersModel folder (model.json at `path` in `tree`) as a checkpoint with its topology. */
export async function tfjsCheckpoint(tree: FileTree, path: string): Promise<Checkpoint> {
  const label = `${tree.label}/${path}`;
  const json = (await readJsonFile(tree, path, MAX_MODEL_JSON)) as { modelTopology?: unknown; weightsManifest?: unknown };
  if (tfjsKind(json) === 'graph-model') {
    throw new CheckpointError('unsupported_format', `${label}: a tfjs GraphModel (a frozen TensorFlow graph) has no layer topology; export a LayersModel: model.save(...) in tfjs, or tensorflowjs_converter --output_format=tfjs_layers_model`);
  }
  if (!Array.isArray(json.weightsManifest)) throw new CheckpointError('bad_json', `${label}: weightsManifest is not a list`);
  const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/') + 1) : '';
  const tensors = new Map<string, CheckpointTensor>();
  const sources: ByteSource[] = [];
  for (const [g, group] of (json.weightsManifest as ManifestGroup[]).entries()) {
    if (!group || !Array.isArray(group.paths) || !Array.isArray(group.weights)) throw new CheckpointError('bad_json', `${label}: weightsManifest[${g}] needs "paths" and "weights"`);
    const shards: ByteSource[] = [];
    for (const p of group.paths) {
      const file = dir + String(p).replace(/^\.\//, '');
      if (!tree.files.has(file)) throw new CheckpointError('missing_file', `${label}: weight file "${file}" is missing (upload the whole folder as a .zip or .tar)`);
      shards.push(await tree.open(file));
    }
    sources.push(...shards);
    const total = shards.reduce((a, s) => a + s.size, 0);
    let offset = 0;
    for (const spec of group.weights) {
      const where = `${label}: weight "${spec?.name}"`;
      if (!spec || typeof spec.name !== 'string' || !Array.isArray(spec.shape) || !spec.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new CheckpointError('bad_json', `${label}: a weightsManifest entry needs a name and a shape`);
      const quant = spec.quantization?.dtype;
      const base = ELEMENT[spec.dtype];
      if (!base || (quant !== undefined && QUANT[quant] === undefined)) throw new CheckpointError('unknown_dtype', `${where} has dtype ${quant ?? spec.dtype}; basin reads float32, int32, bool and uint8/uint16/float16-quantized weights`);
      const length = numel(spec.shape) * (quant ? QUANT[quant] : base[0]);
      if (offset + length > total) throw new CheckpointError('truncated', `${where} ends at byte ${offset + length} of its shards, which hold ${total}`);
      if (tensors.has(spec.name)) throw new CheckpointError('duplicate_name', `${label}: weight "${spec.name}" appears twice`);
      const at = offset;
      const dtype: DType = quant === 'float16' ? 'F16' : quant ? 'F32' : base[1];
      tensors.set(spec.name, {
        name: spec.name, dtype, shape: spec.shape, bytes: length,
        read: async () => {
          const bytes = await concatRead(shards, at, length);
          return quant ? dequantize(spec, bytes) : decodeTensor({ dtype, shape: spec.shape }, bytes);
        },
      });
      offset += length;
    }
    if (offset !== total) throw new CheckpointError('size_mismatch', `${label}: weightsManifest[${g}] describes ${offset} bytes, its shards hold ${total}`);
  }
  return {
    format: 'tfjs-layers', label, tensors, notes: [], topology: json.modelTopology,
    close: async () => { for (const s of sources) await s.close?.(); },
  };
}
