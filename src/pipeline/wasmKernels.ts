import * as tf from '@tensorflow/tfjs-core';

/**
 * Fixes for @tensorflow/tfjs-backend-wasm 4.22.0 (measured in DESIGN 4.6):
 * - its matMul with transposeA/transposeB falls to a scalar loop (~1 GFLOP/s): transpose first with
 *   the wasm Transpose kernel, then run the fast untransposed kernel (bit-identical results);
 * - Conv2DBackpropFilter is not registered, so CNN training throws: add it as one dilated convolution;
 * - stride-1 Conv2DBackpropInput is faster as a forward convolution with the flipped filter.
 */
type KernelFunc = tf.KernelConfig['kernelFunc'];
type Backend = tf.KernelBackend & { disposeData(id: object): boolean; write(v: Float32Array, s: number[], d: tf.DataType): object; incRef(id: object): void };

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

type ConvAttrs = { strides: [number, number] | number; pad: 'same' | 'valid' | number | number[][]; dataFormat?: string; dimRoundingMode?: 'floor' | 'round' | 'ceil'; dilations?: number | [number, number] };

/**
 * Chain wasm kernels directly, backend to backend: running tf ops from inside a kernel goes through
 * the engine again and measured 4-20x slower than the same kernels called here.
 */
class KernelChain {
  private temps: tf.TensorInfo[] = [];
  constructor(private backend: Backend) {}
  run(name: string, inputs: Record<string, tf.TensorInfo>, attrs: Record<string, unknown>): tf.TensorInfo {
    const kernel = tf.getKernel(name, 'wasm');
    if (!kernel) throw new Error(`wasm kernel ${name} is not registered`);
    const out = kernel.kernelFunc({ inputs, backend: this.backend, attrs } as never) as tf.TensorInfo;
    this.temps.push(out);
    return out;
  }
  /** keep `result`, free every other intermediate */
  finish(result: tf.TensorInfo): tf.TensorInfo {
    for (const t of this.temps) if (t !== result) this.backend.disposeData(t.dataId);
    return result;
  }
}

/**
 * dW as one convolution: with input channels as the batch, x [ci,H,W,n] convolved with dy as the
 * filter [OH,OW,n,co], dilated by the forward stride, gives [ci,kh,kw,co].
 */
function registerConv2DBackpropFilter(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) return;
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const a = attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
      if (a.dataFormat && a.dataFormat !== 'NHWC') throw new Error('Conv2DBackpropFilter (wasm): only NHWC is supported');
      const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], a.filterShape, a.strides, 1, a.pad as never, a.dimRoundingMode);
      const [kh, kw, ci, co] = a.filterShape;
      const { top, left, bottom, right } = info.padInfo;
      const k = new KernelChain(backend as Backend);
      const xt = k.run('Transpose', { x }, { perm: [3, 1, 2, 0] });
      const xp = k.run('PadV2', { x: xt }, { paddings: [[0, 0], [top, bottom], [left, right], [0, 0]], constantValue: 0 });
      const filter = k.run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
      const full = k.run('Conv2D', { x: xp, filter }, { strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: [info.strideHeight, info.strideWidth] });
      const cut = k.run('Slice', { x: full }, { begin: [0, 0, 0, 0], size: [ci, kh, kw, co] });
      return k.finish(k.run('Transpose', { x: cut }, { perm: [1, 2, 0, 3] }));
    },
  });
}

/** Stride-1 dx as a forward convolution of dy with the flipped, in/out-swapped filter. */
function wrapConv2DBackpropInput(): void {
  const original = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (!original) return;
  tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  tf.registerKernel({
    ...original,
    kernelFunc: (args) => {
      const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
      const a = args.attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
      const info = tf.backend_util.computeConv2DInfo(a.inputShape, filter.shape as [number, number, number, number], a.strides, 1, a.pad as never, a.dimRoundingMode);
      if (info.strideHeight !== 1 || info.strideWidth !== 1 || (a.dataFormat && a.dataFormat !== 'NHWC')) return original.kernelFunc(args);
      const [kh, kw] = filter.shape;
      const { top, left, bottom, right } = info.padInfo;
      const k = new KernelChain(args.backend as Backend);
      const flipped = k.run('Transpose', { x: k.run('Reverse', { x: filter }, { dims: [0, 1] }) }, { perm: [0, 1, 3, 2] });
      return k.finish(k.run('Conv2D', { x: dy, filter: flipped }, {
        strides: 1, dilations: 1, dataFormat: 'NHWC',
        pad: [[0, 0], [kh - 1 - top, kh - 1 - bottom], [kw - 1 - left, kw - 1 - right], [0, 0]],
      }));
    },
  });
}

export function installWasmKernelFixes(): void {
  if (installed) return;
  installed = true;
  wrapMatMul('BatchMatMul');
  wrapMatMul('_FusedMatMul');
  registerConv2DBackpropFilter();
  wrapConv2DBackpropInput();
}
