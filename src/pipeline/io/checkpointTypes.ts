import { DTYPE_BYTES, numel, type DType, type HostTensor } from '../model/tensor.ts';
import { readHeader, readTensor, type ByteSource } from './safetensors.ts';

/** One tensor of a checkpoint, described up front and read only when asked for. */
export interface CheckpointTensor {
  name: string;
  dtype: DType;
  shape: number[];
  bytes: number;
  read(): Promise<HostTensor>;
}

export type CheckpointFormat = 'safetensors' | 'safetensors-sharded' | 'torch' | 'torch-sharded' | 'tfjs-layers';

/** A model's weights, whatever the file format, plus what the files say about the architecture. */
export interface Checkpoint {
  format: CheckpointFormat;
  /** where it came from: the file, archive or folder */
  label: string;
  /** tensor name -> tensor, in file order */
  tensors: Map<string, CheckpointTensor>;
  /** what the reader did that a user should know (state_dict taken from a key, a prefix removed, files skipped) */
  notes: string[];
  /** a Hugging Face or timm config.json next to the weights */
  config?: Record<string, unknown>;
  /** a tfjs LayersModel's topology (model.json `modelTopology`) */
  topology?: unknown;
  close(): Promise<void>;
}

export const tensorBytes = (dtype: DType, shape: readonly number[]) => numel(shape) * DTYPE_BYTES[dtype];

/** A safetensors file as a checkpoint: the header now, each tensor when read. */
export async function safetensorsCheckpoint(src: ByteSource, label: string): Promise<Checkpoint> {
  const header = await readHeader(src);
  const tensors = new Map<string, CheckpointTensor>();
  for (const e of header.entries.values()) {
    tensors.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, bytes: e.end - e.begin, read: () => readTensor(src, e) });
  }
  return { format: 'safetensors', label, tensors, notes: [], close: async () => { await src.close?.(); } };
}
