import { describe, it, expect } from 'vitest';
import { batchnorm } from '../../../src/pipeline/layers/batchnorm.ts';
import { batchStatistics } from '../../../src/pipeline/model/wrappers.ts';
import type { FloatTensor } from '../../../src/pipeline/model/tensor.ts';
import { expectClose, net, run, seq, spaces, stateOf, useCpu } from './helpers.ts';

useCpu();

const [scale, shift, mean, variance] = [[2, 0.5], [0.1, -1], [0.3, -0.2], [4, 0.25]];
const bnState = { 'bn.weight': scale, 'bn.bias': shift, 'bn.running_mean': mean, 'bn.running_var': variance };
/** two samples of a [2, 2, 2] map, NCHW */
const x = seq(16, (i) => Math.sin(3 * i) * (1 + (i % 5)));
const at = (n: number, c: number, k: number) => x[n * 8 + c * 4 + k];

describe('batchnorm', () => {
  const g = net([2, 2, 2], [{ type: 'batchnorm', name: 'bn', eps: 1e-3 }, { type: 'flatten' }]);

  it('forward (inference): (x - running mean) / sqrt(running var + eps) x scale + shift, per channel', () => {
    const want = seq(16, (i) => {
      const [n, c, k] = [Math.floor(i / 8), Math.floor(i / 4) % 2, i % 4];
      return ((at(n, c, k) - mean[c]) / Math.sqrt(variance[c] + 1e-3)) * scale[c] + shift[c];
    });
    expectClose(run(g, stateOf(g, bnState), x, 2).data, want);
  });

  it('train mode (RESET, training): normalises with the batch statistics over N, H, W and reports them', () => {
    const reported: number[][] = [];
    const wrap = batchStatistics(g, (node, s) => reported.push([...s.mean.dataSync(), ...s.variance.dataSync(), s.count]));
    const got = run(g, stateOf(g, bnState), x, 2, { wrap }).data;
    const stats = [0, 1].map((c) => {
      const v = [0, 1].flatMap((n) => seq(4, (k) => at(n, c, k)));
      const m = v.reduce((a, b) => a + b, 0) / 8;
      return { m, v: v.reduce((a, b) => a + (b - m) ** 2, 0) / 8 };
    });
    expectClose(reported[0], [stats[0].m, stats[1].m, stats[0].v, stats[1].v, 8]);
    expectClose(got, seq(16, (i) => {
      const [n, c, k] = [Math.floor(i / 8), Math.floor(i / 4) % 2, i % 4];
      return ((at(n, c, k) - stats[c].m) / Math.sqrt(stats[c].v + 1e-3)) * scale[c] + shift[c];
    }));
  });

  it('shape and parameters: keeps its input\'s shape; PyTorch or Keras names; running statistics are buffers', () => {
    expect(g.byId.get('bn')!.shape).toEqual({ kind: 'map', channels: 2, height: 2, width: 2 });
    expect(Object.values(g.byId.get('bn')!.params).map((p) => [p.tensor, p.buffer])).toEqual([
      ['bn.weight', undefined], ['bn.bias', undefined], ['bn.running_mean', 'statistic'], ['bn.running_var', 'statistic'],
    ]);
    const tfjs = net([3], [{ type: 'batchnorm', name: 'bn' }], 'tfjs');
    expect([...tfjs.expected.keys()]).toEqual(['bn/gamma', 'bn/beta', 'bn/moving_mean', 'bn/moving_variance']);
    expect(tfjs.hasBatchNorm).toBe(true);
    expect(batchnorm.runningStats).toMatchObject({ mean: 'mean', variance: 'var' });
  });

  it('permutation role: passes its input\'s space through, permuting all four per-channel tensors', () => {
    const layers = [{ type: 'linear', name: 'fc1', out: 3 }, { type: 'batchnorm', name: 'bn' }, { type: 'relu' }, { type: 'linear', name: 'fc2', out: 2 }];
    expect(spaces(net([4], layers))).toEqual([{
      size: 3,
      axes: ['fc1.weight:0', 'fc1.bias:0', 'bn.weight:0', 'bn.bias:0', 'bn.running_mean:0', 'bn.running_var:0', 'fc2.weight:1'],
      nodes: ['fc1', 'bn', '#2'],
    }]);
    expect(batchnorm.repair).toMatchObject({ nets: 'batchnorm' });
    expect(batchnorm.repair?.fold('pytorch')).toEqual({ scale: { role: 'scale', axis: 0 }, shift: 'shift' });
  });

  it('init: scale 1, shift 0, running mean 0, running variance 1', () => {
    const s = stateOf(g);
    expect(['bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'].map((k) => Array.from((s.get(k) as FloatTensor).data))).toEqual([[1, 1], [0, 0], [0, 0], [1, 1]]);
  });
});
