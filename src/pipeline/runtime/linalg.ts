import * as tf from '@tensorflow/tfjs-core';

/**
 * Compute tensors and read them back to the host. Returning the typed arrays from inside tf.tidy
 * would make tidy walk every element looking for tensors (measured: 40 s of a 58 s weight matching).
 */
export function readTensors(compute: () => tf.Tensor[]): Float32Array[] {
  const ts = tf.tidy(compute);
  try {
    return ts.map((t) => t.dataSync() as Float32Array);
  } finally {
    ts.forEach((t) => t.dispose());
  }
}

export const readTensor = (compute: () => tf.Tensor): Float32Array => readTensors(() => [compute()])[0];

/** a · b^T for row-major a [rows, inner] and b [cols, inner], accumulated into `out` (Float64, [rows, cols]). */
export function addMatmulABt(out: Float64Array, a: Float32Array, b: Float32Array, rows: number, cols: number, inner: number): void {
  // on the tensor backend: wasm/native matMul is 10-40x faster than a JS triple loop
  const product = readTensor(() => tf.matMul(tf.tensor2d(a, [rows, inner]), tf.tensor2d(b, [cols, inner]), false, true));
  for (let k = 0; k < out.length; k++) out[k] += product[k];
}
