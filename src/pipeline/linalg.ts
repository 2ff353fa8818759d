import * as tf from '@tensorflow/tfjs-core';

/** a · b^T for row-major a [rows, inner] and b [cols, inner], accumulated into `out` (Float64, [rows, cols]). */
export function addMatmulABt(out: Float64Array, a: Float32Array, b: Float32Array, rows: number, cols: number, inner: number): void {
  // on the tensor backend: wasm/native matMul is 10-40x faster than a JS triple loop
  const product = tf.tidy(() => tf.matMul(tf.tensor2d(a, [rows, inner]), tf.tensor2d(b, [cols, inner]), false, true).dataSync());
  for (let k = 0; k < out.length; k++) out[k] += product[k];
}
