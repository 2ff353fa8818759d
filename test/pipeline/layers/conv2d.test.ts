import { describe, it, expect } from 'vitest';
import { conv2d } from '../../../src/pipeline/layers/conv2d.ts';
import type { FloatTensor } from '../../../src/pipeline/model/tensor.ts';
import { expectClose, expectKaimingUniform, net, run, seq, spaces, stateOf, useCpu } from './helpers.ts';

useCpu();

type T3 = number[][][];
/** PyTorch's conv2d by its definition: x [C, H, W], w [O, C, kh, kw], zero padding. */
function conv(x: T3, w: number[][][][], b: number[], stride: number, pad: number): T3 {
  const [h, wd] = [x[0].length, x[0][0].length];
  const [kh, kw] = [w[0][0].length, w[0][0][0].length];
  const oh = Math.floor((h + 2 * pad - kh) / stride) + 1;
  const ow = Math.floor((wd + 2 * pad - kw) / stride) + 1;
  return w.map((wo, o) => seq(oh).map((r) => seq(ow).map((c) => {
    let s = b[o];
    wo.forEach((wi, i) => wi.forEach((row, p) => row.forEach((v, q) => {
      const [rr, cc] = [r * stride + p - pad, c * stride + q - pad];
      if (rr >= 0 && rr < h && cc >= 0 && cc < wd) s += v * x[i][rr][cc];
    })));
    return s;
  })));
}

const x: T3 = seq(2).map((i) => seq(5).map((r) => seq(5).map((c) => Math.sin(1 + i * 25 + r * 5 + c))));
const w = seq(3).map((o) => seq(2).map((i) => seq(3).map((p) => seq(3).map((q) => Math.cos(o * 18 + i * 9 + p * 3 + q) / 3))));
const b = [0.5, -0.25, 0];

describe('conv2d', () => {
  it('forward: PyTorch\'s convolution (stride 2, padding 1), from [out, in, kh, kw] and from tfjs [kh, kw, in, out] weights', () => {
    const want = conv(x, w, b, 2, 1).flat(2);
    const layers = [{ type: 'conv2d', name: 'c', out: 3, kernel: 3, stride: 2, padding: 1 }, { type: 'flatten' }];
    const pt = net([2, 5, 5], layers);
    const got = run(pt, stateOf(pt, { 'c.weight': w.flat(3), 'c.bias': b }), x.flat(2), 1);
    expect(got.shape).toEqual([1, 27]);
    expectClose(got.data, want);
    // tfjs: input [H, W, C], kernel [kh, kw, in, out], flatten in NHWC order
    const tfjs = net([5, 5, 2], layers, 'tfjs');
    const kernel = seq(3).flatMap((p) => seq(3).flatMap((q) => seq(2).flatMap((i) => seq(3).map((o) => w[o][i][p][q]))));
    const nhwc = seq(5).flatMap((r) => seq(5).flatMap((c) => seq(2).map((i) => x[i][r][c])));
    const fromTfjs = run(tfjs, stateOf(tfjs, { 'c/kernel': kernel, 'c/bias': b }), nhwc, 1).data;
    expectClose(fromTfjs, seq(3).flatMap((r) => seq(3).flatMap((c) => seq(3).map((o) => want[o * 9 + r * 3 + c]))));
  });

  it('shape inference: output size per padding and stride; kernel and outputs from the checkpoint', () => {
    const shape = (conf: Record<string, unknown>) => net([2, 7, 6], [{ type: 'conv2d', name: 'c', out: 4, kernel: 3, ...conf }, { type: 'flatten' }]).byId.get('c')!.shape;
    expect(shape({})).toEqual({ kind: 'map', channels: 4, height: 5, width: 4 });
    expect(shape({ padding: 1, stride: 2 })).toEqual({ kind: 'map', channels: 4, height: 4, width: 3 });
    expect(shape({ padding: 'same', stride: 2 })).toEqual({ kind: 'map', channels: 4, height: 4, width: 3 });
    const g = net([2, 7, 6], [{ type: 'conv2d', name: 'c', out: 4, kernel: 3 }, { type: 'flatten' }]);
    expect(g.byId.get('c')!.params.weight).toMatchObject({ shape: [4, 2, 3, 3], toEngine: [2, 3, 1, 0] });
  });

  it('permutation role: opens a space on its output channels; a flatten spreads it over H*W inputs of the next linear layer', () => {
    const layers = [
      { type: 'conv2d', name: 'c1', out: 3, kernel: 3, padding: 1 }, { type: 'relu' },
      { type: 'conv2d', name: 'c2', out: 4, kernel: 3, stride: 2 }, { type: 'flatten' }, { type: 'linear', name: 'fc', out: 2 },
    ];
    expect(spaces(net([1, 5, 5], layers))).toEqual([
      { size: 3, axes: ['c1.weight:0', 'c1.bias:0', 'c2.weight:1'], nodes: ['c1', '#1'] },
      { size: 4, axes: ['c2.weight:0', 'c2.bias:0', 'fc.weight:1 x4'], nodes: ['c2'] },
    ]);
    expect(spaces(net([5, 5, 1], layers, 'tfjs')).map((s) => s.axes)).toEqual([
      ['c1/kernel:3', 'c1/bias:0', 'c2/kernel:2'],
      ['c2/kernel:3', 'c2/bias:0', 'fc/kernel:0 x4 minor'],
    ]);
    expect(conv2d.repair?.fold('tfjs')).toEqual({ scale: { role: 'weight', axis: 3 }, shift: 'bias' });
  });

  it('init: Kaiming-uniform with fan_in = in x kh x kw', () => {
    const g = net([16, 8, 8], [{ type: 'conv2d', name: 'c', out: 64, kernel: 3 }, { type: 'flatten' }]);
    expectKaimingUniform(stateOf(g, {}, 3).get('c.weight') as FloatTensor, 16 * 9);
  });
});
