import * as tf from '@tensorflow/tfjs-core';

/**
 * Fixes for @tensorflow/tfjs-backend-wasm 4.22.0 (measured in DESIGN 4.6):
 * - its matMul with transposeA/transposeB falls to a scalar loop (~1 GFLOP/s): transpose first with
 *   the wasm Transpose kernel, then run the fast untransposed kernel (bit-identical results);
 * - Conv2DBackpropFilter is not registered, so CNN training throws: add it as per-tap strided
 *   slices of the padded input times dy on the (fixed) matMul.
 */
type KernelFunc = tf.KernelConfig['kernelFunc'];
type Backend = tf.KernelBackend & { disposeData(id: object): boolean; write(v: Float32Array, s: number[], d: tf.DataType): object };

let installed = false;

function transposeInfo(x: tf.TensorInfo, backend: Backend, transpose: KernelFunc): tf.TensorInfo {
  const rank = x.shape.length;
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 1], perm[rank - 2]] = [perm[rank - 2], perm[rank - 1]];
  return transpose({ inputs: { x }, backend, attrs: { perm } }) as tf.TensorInfo;
}

function wrapMatMul(name: 'BatchMatMul' | '_FusedMatMul'): void {
  const original = tf.getKernel(name, 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm')?.kernelFunc;
  if (!original || !transpose) return;
  const kernelFunc: KernelFunc = (args) => {
    const attrs = args.attrs as { transposeA: boolean; transposeB: boolean };
    if (!attrs.transposeA && !attrs.transposeB) return original.kernelFunc(args);
    const backend = args.backend as Backend;
    const inputs = { ...args.inputs } as Record<string, tf.TensorInfo>;
    const temps: tf.TensorInfo[] = [];
    if (attrs.transposeA) { inputs.a = transposeInfo(inputs.a, backend, transpose); temps.push(inputs.a); }
    if (attrs.transposeB) { inputs.b = transposeInfo(inputs.b, backend, transpose); temps.push(inputs.b); }
    try {
      return original.kernelFunc({ ...args, inputs, attrs: { ...args.attrs, transposeA: false, transposeB: false } });
    } finally {
      for (const t of temps) backend.disposeData(t.dataId);
    }
  };
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ ...original, kernelFunc });
}

function registerConv2DBackpropFilter(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) return;
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const a = attrs as unknown as { strides: [number, number] | number; pad: 'same' | 'valid' | number | number[][]; dataFormat: string; dimRoundingMode?: 'floor' | 'round' | 'ceil'; filterShape: [number, number, number, number] };
      if (a.dataFormat && a.dataFormat !== 'NHWC') throw new Error('Conv2DBackpropFilter (wasm): only NHWC is supported');
      const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], a.filterShape, a.strides, 1, a.pad as never, a.dimRoundingMode);
      const [kh, kw, ci, co] = a.filterShape;
      const { top, left, bottom, right } = info.padInfo;
      const values = tf.tidy(() => {
        const xt = tf.engine().makeTensorFromTensorInfo(x) as tf.Tensor4D;
        const dyt = tf.engine().makeTensorFromTensorInfo(dy) as tf.Tensor4D;
        const xp = tf.pad(xt, [[0, 0], [top, bottom], [left, right], [0, 0]]);
        const n = x.shape[0];
        const m = n * info.outHeight * info.outWidth;
        const dy2 = tf.reshape(dyt, [m, co]);
        const taps: tf.Tensor[] = [];
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            const patch = tf.stridedSlice(xp, [0, i, j, 0], [n, i + (info.outHeight - 1) * info.strideHeight + 1, j + (info.outWidth - 1) * info.strideWidth + 1, ci], [1, info.strideHeight, info.strideWidth, 1]);
            taps.push(tf.matMul(tf.reshape(patch, [m, ci]), dy2, true, false));
          }
        }
        return tf.stack(taps).dataSync() as Float32Array;
      });
      const dataId = (backend as Backend).write(values, [kh, kw, ci, co], 'float32');
      return { dataId, shape: [kh, kw, ci, co], dtype: 'float32' } as tf.TensorInfo;
    },
  });
}

export function installWasmKernelFixes(): void {
  if (installed) return;
  installed = true;
  wrapMatMul('BatchMatMul');
  wrapMatMul('_FusedMatMul');
  registerConv2DBackpropFilter();
}
