/**
 * Host-side tensors: what checkpoints hold and what weight-space math (permute, interpolate) works on.
 * Float tensors of every width are computed in float32; integer tensors (e.g. `num_batches_tracked`)
 * keep their exact bytes so they are copied through, never averaged or permuted.
 */
export type FloatDType = 'F64' | 'F32' | 'F16' | 'BF16';
export type IntDType = 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';
export type DType = FloatDType | IntDType;

export const FLOAT_DTYPES: readonly FloatDType[] = ['F64', 'F32', 'F16', 'BF16'];
export const DTYPE_BYTES: Record<DType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

export interface FloatTensor {
  kind: 'float';
  /** the dtype stored in the file; data is float32 whatever it was */
  dtype: FloatDType;
  shape: number[];
  data: Float32Array;
}
export interface IntTensor {
  kind: 'int';
  dtype: IntDType;
  shape: number[];
  /** little-endian bytes exactly as stored */
  bytes: Uint8Array;
}
export type HostTensor = FloatTensor | IntTensor;
/** A checkpoint: tensor name -> tensor, in file order. */
export type StateDict = Map<string, HostTensor>;

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export function floatTensor(shape: number[], data: Float32Array, dtype: FloatDType = 'F32'): FloatTensor {
  if (data.length !== numel(shape)) throw new Error(`tensor data has ${data.length} values, shape [${shape}] needs ${numel(shape)}`);
  return { kind: 'float', dtype, shape, data };
}

export function isFloatDType(d: string): d is FloatDType {
  return (FLOAT_DTYPES as readonly string[]).includes(d);
}
