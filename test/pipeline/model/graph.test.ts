import { describe, it, expect } from 'vitest';
import { ModelError, type ModelErrorCode } from '../../../src/pipeline/errors.ts';
import { buildGraph, unusedTensors, type TensorShapes } from '../../../src/pipeline/model/graph.ts';

const graph = (layers: unknown[], more: Record<string, unknown> = {}) => ({ layout: 'pytorch', input: [4], layers, ...more });
const shapes = (entries: Record<string, number[]>, ints: string[] = []): TensorShapes =>
  new Map(Object.entries(entries).map(([k, shape]) => [k, { shape, kind: ints.includes(k) ? 'int' as const : 'float' as const }]));

function fails(arch: unknown, code: ModelErrorCode, message: RegExp, checkpoint?: TensorShapes): void {
  let err: unknown;
  try {
    buildGraph(arch, checkpoint);
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${code}`).toBeInstanceOf(ModelError);
  expect((err as ModelError).code).toBe(code);
  expect((err as ModelError).message).toMatch(message);
}

describe('buildGraph: every validation error, with its code and a message naming the layer or tensor', () => {
  it('bad_architecture: the schema, and hints a fresh model needs', () => {
    fails({ layout: 'pytorch', input: [4], layers: [] }, 'bad_architecture', /^architecture\.layers: /);
    fails(graph([{ type: 'linear', name: '0', out: 2, stride: 2 }]), 'bad_architecture', /^architecture\.layers\.0: /);
    fails(graph([{ type: 'softmax' }]), 'bad_architecture', /^architecture/);
    fails({ template: 'mlp', input: [4], widths: [0] }, 'bad_architecture', /^architecture\.widths\.0: /);
    fails(graph([{ type: 'linear', name: '0' }]), 'bad_architecture', /^layer "0" \(linear\): needs "out" when no checkpoint is given$/);
    fails({ layout: 'pytorch', input: [1, 5, 5], layers: [{ type: 'conv2d', name: 'c', out: 2 }, { type: 'flatten' }] }, 'bad_architecture', /^layer "c" \(conv2d\): needs "kernel" when no checkpoint is given$/);
  });

  it('missing_tensor: a tensor the graph reads is not in the checkpoint', () => {
    fails(graph([{ type: 'linear', name: 'fc' }]), 'missing_tensor', /^layer "fc" \(linear\): checkpoint has no tensor "fc\.weight"$/, shapes({}));
    fails(graph([{ type: 'linear', name: 'fc' }]), 'missing_tensor', /^layer "fc" \(linear\): checkpoint has no tensor "fc\.bias" \(expected shape \[3\]\)$/, shapes({ 'fc.weight': [3, 4] }));
    fails(graph([{ type: 'linear', name: 'fc', out: 3 }, { type: 'batchnorm', name: 'bn' }]), 'missing_tensor', /"bn\.running_var" \(expected shape \[3\]\)/, shapes({ 'fc.weight': [3, 4], 'fc.bias': [3], 'bn.weight': [3], 'bn.bias': [3], 'bn.running_mean': [3] }));
  });

  it('shape_mismatch: shapes, dtypes and hints that disagree with the checkpoint', () => {
    const fc = { 'fc.weight': [3, 4], 'fc.bias': [3] };
    fails(graph([{ type: 'linear', name: 'fc', out: 2 }]), 'shape_mismatch', /tensor "fc\.weight" has 3 outputs, the architecture says 2$/, shapes(fc));
    fails(graph([{ type: 'linear', name: 'fc' }]), 'shape_mismatch', /tensor "fc\.weight" has shape \[3, 5\], expected \[3, 4\]$/, shapes({ ...fc, 'fc.weight': [3, 5] }));
    fails(graph([{ type: 'linear', name: 'fc' }]), 'shape_mismatch', /tensor "fc\.bias" must be a float tensor$/, shapes(fc, ['fc.bias']));
    fails(graph([{ type: 'linear', name: 'fc' }]), 'shape_mismatch', /tensor "fc\.weight" has shape \[\]$/, shapes({ 'fc.weight': [] }));
    const conv = (name: string, kernel?: number) => ({ layout: 'pytorch', input: [1, 6, 6], layers: [{ type: 'conv2d', name, kernel }, { type: 'flatten' }] });
    fails(conv('c', 5), 'shape_mismatch', /tensor "c\.weight" has a 3x3 kernel, the architecture says 5$/, shapes({ 'c.weight': [2, 1, 3, 3], 'c.bias': [2] }));
    fails(conv('c'), 'shape_mismatch', /tensor "c\.weight" has shape \[2, 9\]; a conv2d weight has 4 axes$/, shapes({ 'c.weight': [2, 9], 'c.bias': [2] }));
    fails(graph([{ type: 'linear', name: 'fc', out: 3 }, { type: 'batchnorm', name: 'bn' }]), 'shape_mismatch', /tensor "bn\.num_batches_tracked" must be an integer tensor/,
      shapes({ ...fc, 'bn.weight': [3], 'bn.bias': [3], 'bn.running_mean': [3], 'bn.running_var': [3], 'bn.num_batches_tracked': [] }));
  });

  it('bad_graph: wiring, shapes that do not fit a layer, and the output', () => {
    const map = (layers: unknown[], input = [2, 4, 4]) => ({ layout: 'pytorch', input, layers });
    fails(graph([{ type: 'relu', id: 'a' }, { type: 'relu', id: 'a' }, { type: 'linear', name: 'x', out: 2 }]), 'bad_graph', /^layers\.1: duplicate layer id "a"$/);
    fails(graph([{ type: 'relu', id: 'input' }]), 'bad_graph', /duplicate layer id "input"/);
    fails(graph([{ type: 'relu', inputs: ['later'] }, { type: 'linear', name: 'later', out: 2 }]), 'bad_graph', /^layer "#0": input "later" is not an earlier layer$/);
    fails(graph([{ type: 'relu', id: 'a' }, { type: 'linear', name: 'fc', out: 2, inputs: ['a', 'input'] }]), 'bad_graph', /^layer "fc" \(linear\) takes exactly one input$/);
    fails(map([{ type: 'linear', name: 'fc', out: 2 }]), 'bad_graph', /input has shape \[2, 4, 4\]; a linear layer needs flat features or tokens \(add a flatten layer\)$/);
    fails(graph([{ type: 'conv2d', name: 'c', out: 2, kernel: 3 }]), 'bad_graph', /^layer "c" \(conv2d\): input has shape \[4\]; conv2d needs \[C, H, W\]$/);
    fails(map([{ type: 'conv2d', name: 'c', out: 2, kernel: 5 }, { type: 'flatten' }]), 'bad_graph', /input \[2, 4, 4\] is too small for a 5x5 kernel$/);
    fails(graph([{ type: 'maxpool', kernel: 2 }]), 'bad_graph', /^layer "#0" \(maxpool\): needs a \[C, H, W\] input, got \[4\]$/);
    fails(graph([{ type: 'globalavgpool' }]), 'bad_graph', /^layer "#0" \(globalavgpool\): needs a \[C, H, W\] input, got \[4\]$/);
    fails(map([{ type: 'avgpool', kernel: 2, padding: 2 }, { type: 'flatten' }]), 'bad_graph', /padding may be at most half the kernel$/);
    fails(map([{ type: 'maxpool', kernel: 5 }, { type: 'flatten' }]), 'bad_graph', /input \[2, 4, 4\] is too small for a 5x5 pool$/);
    fails(graph([{ type: 'linear', name: 'a', out: 3 }, { type: 'linear', name: 'b', out: 2, inputs: ['input'] }, { type: 'add', inputs: ['a', 'b'] }]), 'bad_graph', /^layer "#2" \(add\): inputs have shapes \[3\] and \[2\]$/);
    fails(graph([{ type: 'linear', name: 'a', out: 3 }], { output: 'nope' }), 'bad_graph', /^output "nope" is not a layer id$/);
    fails(map([{ type: 'relu' }]), 'bad_graph', /^the output layer "#0" must produce flat logits, got \[2, 4, 4\]$/);
  });

  it('unsupported: an input that is neither [D] nor [C, H, W]', () => {
    fails({ layout: 'pytorch', input: [3, 4], layers: [{ type: 'flatten' }] }, 'unsupported', /^architecture\.input: \[3, 4\] is neither \[D\] nor a \[C, H, W\] image$/);
  });

  it('a valid checkpoint: shapes checked, optional counters read where present, unused tensors listed', () => {
    const arch = graph([{ type: 'linear', name: 'fc', out: 3 }, { type: 'batchnorm', name: 'bn' }]);
    const bn = { 'bn.weight': [3], 'bn.bias': [3], 'bn.running_mean': [3], 'bn.running_var': [3] };
    const without = buildGraph(arch, shapes({ 'fc.weight': [3, 4], 'fc.bias': [3], ...bn, extra: [1] }));
    expect([...without.expected.keys()]).toEqual(['fc.weight', 'fc.bias', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var']);
    expect(unusedTensors(without, shapes({ 'fc.weight': [3, 4], extra: [1] }))).toEqual(['extra']);
    const withCount = buildGraph(arch, shapes({ 'fc.weight': [3, 4], 'fc.bias': [3], ...bn, 'bn.num_batches_tracked': [] }, ['bn.num_batches_tracked']));
    expect(withCount.expected.get('bn.num_batches_tracked')).toEqual({ shape: [], kind: 'int', optional: true });
    expect(withCount.hasBatchNorm).toBe(true);
    expect(withCount.byId.get('bn')!.shape).toEqual({ kind: 'flat', features: 3 });
  });

  it('tfjs layout: [H, W, C] input, "/" separators and Keras names', () => {
    const g = buildGraph({ layout: 'tfjs', input: [6, 5, 2], layers: [{ type: 'conv2d', name: 'c', out: 3, kernel: 3 }, { type: 'flatten' }, { type: 'linear', name: 'd', out: 2 }] });
    expect(g.input).toEqual({ kind: 'map', channels: 2, height: 6, width: 5 });
    expect([...g.expected]).toEqual([
      ['c/kernel', { shape: [3, 3, 2, 3], kind: 'float', optional: undefined }],
      ['c/bias', { shape: [3], kind: 'float', optional: undefined }],
      ['d/kernel', { shape: [36, 2], kind: 'float', optional: undefined }],
      ['d/bias', { shape: [2], kind: 'float', optional: undefined }],
    ]);
  });
});
