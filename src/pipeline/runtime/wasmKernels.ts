import * as tf from '@tensorflow/tfjs-core';

/**
 * Fixes for @tensorflow/tfjs-backend-wasm 4.22.0 (measured in DESIGN 4.6 and bench/backend.ts):
 * - its matMul with transposeA/transposeB falls to a scalar loop (~1 GFLOP/s): transpose first with
 *   the wasm Transpose kernel, then run the fast untransposed kernel (bit-identical results);
 * - Conv2DBackpropFilter is not registered, so CNN training throws: add it as one dilated convolution
 *   (measured 2-14x faster than im2col(x)^T·dy on the wasm matMul, and it needs no im2col buffer);
 * - Conv2DBackpropInput is a scalar loop (~1 GFLOP/s): run it as a forward convolution of dy
 *   (zero-interleaved by the stride when the stride is above 1) with the flipped, in/out-swapped filter;
 * - Tile is a scalar loop (30x slower than a broadcast multiply; BatchNorm's gradient tiles): where
 *   it is a broadcast, run it as one, x * 1 (bit-identical);
 * - AvgPoolGrad of non-overlapping windows (stride = window, no padding) as a broadcast multiply;
 * - MaxPoolGrad is wrong: it starts each window's maximum at FLT_MIN (the smallest positive float,
 *   not the lowest), so a window whose values are all <= 0 sends its gradient nowhere, and ties go to
 *   the last maximum where tfjs-cpu and TensorFlow pick the first (harmless right after a ReLU, wrong
 *   on signed inputs). Recomputed here in JS on the wasm heap: correct, and 2.7x faster.
 * Every replacement chains wasm kernels directly, backend to backend (running tf ops from inside a
 * kernel goes through the engine again and measured 4-20x slower), and frees its intermediates.
 */
type KernelFunc = tf.KernelConfig['kernelFunc'];
type Backend = tf.KernelBackend & {
  disposeData(id: object): boolean;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(x: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
};
type Info = tf.TensorInfo;

let installed = false;

/** A run of wasm kernels whose intermediates are freed when it ends, whether it succeeds or throws. */
class KernelChain {
  private temps: Info[] = [];
  constructor(readonly backend: Backend) {}
  run(name: string, inputs: Record<string, Info> | Info[], attrs: Record<string, unknown>): Info {
    const kernel = tf.getKernel(name, 'wasm');
    if (!kernel) throw new Error(`wasm kernel ${name} is not registered`);
    const out = kernel.kernelFunc({ inputs, backend: this.backend, attrs } as never) as Info;
    this.temps.push(out);
    return out;
  }
  /** Run `f`; keep the data of what it returns (a view of an intermediate allowed), free the rest. */
  static use(backend: unknown, f: (k: KernelChain) => Info): Info {
    const k = new KernelChain(backend as Backend);
    let result: Info | undefined;
    try {
      result = f(k);
      return result;
    } finally {
      for (const t of k.temps) if (t.dataId !== result?.dataId) k.backend.disposeData(t.dataId);
    }
  }
}

/** The same data under another shape (what the wasm Reshape kernel does, without a reference). */
const view = (x: Info, shape: number[]): Info => ({ dataId: x.dataId, shape, dtype: x.dtype });

function replaceKernel(name: string, make: (original: KernelFunc) => KernelFunc): void {
  const original = tf.getKernel(name, 'wasm');
  if (!original) return;
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ ...original, kernelFunc: make(original.kernelFunc) });
}

function wrapMatMul(name: 'BatchMatMul' | '_FusedMatMul'): void {
  replaceKernel(name, (original) => (args) => {
    const attrs = args.attrs as { transposeA: boolean; transposeB: boolean };
    if (!attrs.transposeA && !attrs.transposeB) return original(args);
    return KernelChain.use(args.backend, (k) => {
      const inputs = { ...args.inputs } as Record<string, Info>;
      const swapLast = (x: Info) => {
        const perm = x.shape.map((_, i) => i);
        [perm[perm.length - 1], perm[perm.length - 2]] = [perm[perm.length - 2], perm[perm.length - 1]];
        return k.run('Transpose', { x }, { perm });
      };
      if (attrs.transposeA) inputs.a = swapLast(inputs.a);
      if (attrs.transposeB) inputs.b = swapLast(inputs.b);
      return original({ ...args, inputs, attrs: { ...args.attrs, transposeA: false, transposeB: false } }) as Info;
    });
  });
}

/** Below this many multiply-adds per matrix, a batch of products runs as a plain loop (see wrapSmallBatchMatMul). */
const SMALL_PRODUCT = 1 << 15;

/**
 * BatchMatMul of many small matrices (attention's per-head q k^T and weights x v, and their
 * gradients) as a plain loop over the wasm heap. The wasm kernel costs about 60 us per matrix
 * whatever its size: 512 products of 17x16 by 16x17 took 30 ms, which made attention most of a
 * small ViT's training step; this loop takes a few ms. Either operand may be transposed (read with
 * strides, no Transpose); batch dimensions must match (no broadcasting), else the original runs.
 */
function wrapSmallBatchMatMul(): void {
  replaceKernel('BatchMatMul', (original) => (args) => {
    const { a, b } = args.inputs as { a: Info; b: Info };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    const rank = a.shape.length;
    if (rank < 3 || b.shape.length !== rank || a.dtype !== 'float32' || b.dtype !== 'float32') return original(args);
    const batchShape = a.shape.slice(0, -2);
    if (batchShape.some((d, i) => d !== b.shape[i])) return original(args);
    const batch = batchShape.reduce((x, y) => x * y, 1);
    const [ar, ac] = a.shape.slice(-2);
    const [br, bc] = b.shape.slice(-2);
    const [m, k] = transposeA ? [ac, ar] : [ar, ac];
    const n = transposeB ? br : bc;
    if (batch < 2 || m * k * n > SMALL_PRODUCT) return original(args);
    const backend = args.backend as Backend;
    const out = backend.makeOutput([...batchShape, m, n], 'float32');
    // views taken after the allocation: growing the wasm memory detaches earlier ones
    const as = backend.typedArrayFromHeap(a) as Float32Array;
    const bs = backend.typedArrayFromHeap(b) as Float32Array;
    const os = backend.typedArrayFromHeap(out) as Float32Array;
    // element (i, p) of A and (p, j) of B, whatever their stored orientation
    const [ai, ap] = transposeA ? [1, m] : [k, 1];
    const [bp, bj] = transposeB ? [1, k] : [n, 1];
    for (let t = 0; t < batch; t++) {
      const aBase = t * m * k;
      const bBase = t * k * n;
      const oBase = t * m * n;
      for (let i = 0; i < m; i++) {
        const aRow = aBase + i * ai;
        for (let j = 0; j < n; j++) {
          let sum = 0;
          let x = aRow;
          let y = bBase + j * bj;
          for (let p = 0; p < k; p++) { sum += as[x] * bs[y]; x += ap; y += bp; }
          os[oBase + i * n + j] = sum;
        }
      }
    }
    return out;
  });
}

type ConvAttrs = { strides: [number, number] | number; pad: 'same' | 'valid' | number | number[][]; dataFormat?: string; dimRoundingMode?: 'floor' | 'round' | 'ceil'; dilations?: number | [number, number] };
type Shape4 = [number, number, number, number];

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
      const { x, dy } = inputs as { x: Info; dy: Info };
      const a = attrs as unknown as ConvAttrs & { filterShape: Shape4 };
      if (a.dataFormat && a.dataFormat !== 'NHWC') throw new Error('Conv2DBackpropFilter (wasm): only NHWC is supported');
      const info = tf.backend_util.computeConv2DInfo(x.shape as Shape4, a.filterShape, a.strides, 1, a.pad as never, a.dimRoundingMode);
      const [kh, kw, ci, co] = a.filterShape;
      const { top, left, bottom, right } = info.padInfo;
      return KernelChain.use(backend, (k) => {
        const xt = k.run('Transpose', { x }, { perm: [3, 1, 2, 0] });
        const xp = k.run('PadV2', { x: xt }, { paddings: [[0, 0], [top, bottom], [left, right], [0, 0]], constantValue: 0 });
        const filter = k.run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
        const full = k.run('Conv2D', { x: xp, filter }, { strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: [info.strideHeight, info.strideWidth] });
        const cut = k.run('Slice', { x: full }, { begin: [0, 0, 0, 0], size: [ci, kh, kw, co] });
        return k.run('Transpose', { x: cut }, { perm: [1, 2, 0, 3] });
      });
    },
  });
}

/**
 * dx as a forward convolution of dy with the flipped, in/out-swapped filter. For stride s > 1, dy is
 * first interleaved with s-1 zeros (a PadV2 of dy viewed as [n,OH,1,OW,1,co]): that convolution
 * multiplies zeros (s^2 times the work) yet runs 3-4x faster than the original scalar kernel.
 */
function wrapConv2DBackpropInput(): void {
  replaceKernel('Conv2DBackpropInput', (original) => (args) => {
    const { dy, filter } = args.inputs as { dy: Info; filter: Info };
    const a = args.attrs as unknown as ConvAttrs & { inputShape: Shape4 };
    if (a.dataFormat && a.dataFormat !== 'NHWC') return original(args);
    const info = tf.backend_util.computeConv2DInfo(a.inputShape, filter.shape as Shape4, a.strides, 1, a.pad as never, a.dimRoundingMode);
    const { strideHeight: sh, strideWidth: sw, inHeight: H, inWidth: W, outHeight: OH, outWidth: OW } = info;
    const [kh, kw] = filter.shape;
    const { top, left } = info.padInfo;
    return KernelChain.use(args.backend, (k) => {
      const flipped = k.run('Transpose', { x: k.run('Reverse', { x: filter }, { dims: [0, 1] }) }, { perm: [0, 1, 3, 2] });
      let x = dy;
      if (sh > 1 || sw > 1) {
        const [n, , , co] = dy.shape;
        const spread = k.run('PadV2', { x: view(dy, [n, OH, 1, OW, 1, co]) }, { paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0 });
        x = view(spread, [n, OH * sh, OW * sw, co]);
      }
      // output length H = OH*sh + before + after - kh + 1 (negative padding crops; the wasm conv honours it)
      const before = [kh - 1 - top, kw - 1 - left];
      const after = [H + top - OH * sh, W + left - OW * sw];
      return k.run('Conv2D', { x, filter: flipped }, {
        strides: 1, dilations: 1, dataFormat: 'NHWC',
        pad: [[0, 0], [before[0], after[0]], [before[1], after[1]], [0, 0]],
      });
    });
  });
}

/**
 * Tile as a broadcast where it is one: view x as [1,d0,1,d1,...] and multiply by ones shaped
 * [r0,1,r1,1,...] (axes of size 1 dropped, neighbours of one kind merged; at most 6 axes, the wasm
 * broadcast limit). float32 only; anything else goes to the original kernel.
 */
function wrapTile(): void {
  replaceKernel('Tile', (original) => (args) => {
    const x = args.inputs.x as Info;
    const reps = (args.attrs as { reps: number[] }).reps;
    if (x.dtype !== 'float32' || reps.every((r) => r === 1) || x.shape.includes(0) || reps.includes(0)) return original(args);
    const xs: number[] = [];
    const os: number[] = [];
    let last: 'x' | 'o' | undefined;
    const push = (kind: 'x' | 'o', size: number) => {
      if (size === 1) return;
      if (last === kind) { const i = xs.length - 1; if (kind === 'x') xs[i] *= size; else os[i] *= size; return; }
      xs.push(kind === 'x' ? size : 1);
      os.push(kind === 'o' ? size : 1);
      last = kind;
    };
    x.shape.forEach((d, i) => { push('o', reps[i]); push('x', d); });
    if (xs.length > 6) return original(args);
    const outShape = x.shape.map((d, i) => d * reps[i]);
    return KernelChain.use(args.backend, (k) => {
      const ones = k.run('Fill', {}, { shape: os, value: 1, dtype: 'float32' });
      return view(k.run('Multiply', { a: view(x, xs), b: ones }, {}), outShape);
    });
  });
}

/** AvgPoolGrad of non-overlapping, unpadded windows: dy spread over each window, times 1/(kh*kw). */
function wrapAvgPoolGrad(): void {
  replaceKernel('AvgPoolGrad', (original) => (args) => {
    const { dy, input } = args.inputs as { dy: Info; input: Info };
    const a = args.attrs as unknown as PoolAttrs;
    const info = tf.backend_util.computePool2DInfo(input.shape as Shape4, a.filterSize, a.strides, 1, a.pad as never, a.dimRoundingMode);
    const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight: OH, outWidth: OW, inHeight: H, inWidth: W } = info;
    const { top, bottom, left, right } = info.padInfo;
    if (input.dtype !== 'float32' || kh !== sh || kw !== sw || top || bottom || left || right || OH * kh > H || OW * kw > W) return original(args);
    const [n, , , c] = input.shape;
    return KernelChain.use(args.backend, (k) => {
      const share = k.run('Fill', {}, { shape: [1, 1, kh, 1, kw, 1], value: 1 / (kh * kw), dtype: 'float32' });
      const spread = view(k.run('Multiply', { a: view(dy, [n, OH, 1, OW, 1, c]), b: share }, {}), [n, OH * kh, OW * kw, c]);
      if (OH * kh === H && OW * kw === W) return spread;
      return k.run('PadV2', { x: spread }, { paddings: [[0, 0], [0, H - OH * kh], [0, W - OW * kw], [0, 0]], constantValue: 0 });
    });
  });
}

type PoolAttrs = { filterSize: [number, number] | number; strides: [number, number] | number; pad: 'same' | 'valid' | number; dimRoundingMode?: 'floor' | 'round' | 'ceil' };

/**
 * MaxPoolGrad as tfjs-cpu defines it: each window's gradient goes to its first strict maximum
 * (row-major; NaN never wins; a window of nothing but NaN or -Infinity passes none). A plain loop over
 * the wasm heap: channels innermost, so every read is contiguous.
 */
function replaceMaxPoolGrad(): void {
  replaceKernel('MaxPoolGrad', (original) => (args) => {
    const { dy, input } = args.inputs as { dy: Info; input: Info };
    if (input.dtype !== 'float32' || dy.dtype !== 'float32') return original(args);
    const a = args.attrs as unknown as PoolAttrs;
    const info = tf.backend_util.computePool2DInfo(input.shape as Shape4, a.filterSize, a.strides, 1, a.pad as never, a.dimRoundingMode);
    const { batchSize: n, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw, effectiveFilterHeight: kh, effectiveFilterWidth: kw } = info;
    const { top, left } = info.padInfo;
    const backend = args.backend as Backend;
    const dx = backend.makeOutput(input.shape, 'float32');
    // views taken after the allocation: growing the wasm memory detaches earlier ones
    const xs = backend.typedArrayFromHeap(input) as Float32Array;
    const dys = backend.typedArrayFromHeap(dy) as Float32Array;
    const dxs = backend.typedArrayFromHeap(dx) as Float32Array;
    dxs.fill(0);
    const best = new Float32Array(C);
    const at = new Int32Array(C);
    for (let b = 0; b < n; b++) {
      for (let oy = 0; oy < OH; oy++) {
        const r0 = Math.max(0, oy * sh - top);
        const r1 = Math.min(H, oy * sh - top + kh);
        for (let ox = 0; ox < OW; ox++) {
          const c0 = Math.max(0, ox * sw - left);
          const c1 = Math.min(W, ox * sw - left + kw);
          best.fill(-Infinity);
          at.fill(-1);
          for (let r = r0; r < r1; r++) {
            for (let q = c0; q < c1; q++) {
              const base = ((b * H + r) * W + q) * C;
              for (let c = 0; c < C; c++) {
                const v = xs[base + c];
                if (v > best[c]) { best[c] = v; at[c] = base + c; }
              }
            }
          }
          const o = ((b * OH + oy) * OW + ox) * C;
          for (let c = 0; c < C; c++) if (at[c] >= 0) dxs[at[c]] += dys[o + c];
        }
      }
    }
    return dx;
  });
}

export function installWasmKernelFixes(): void {
  if (installed) return;
  installed = true;
  wrapMatMul('BatchMatMul');
  wrapMatMul('_FusedMatMul');
  wrapSmallBatchMatMul();
  registerConv2DBackpropFilter();
  wrapConv2DBackpropInput();
  wrapTile();
  wrapAvgPoolGrad();
  replaceMaxPoolGrad();
}
