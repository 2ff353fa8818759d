import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LocalMergeRequest } from '../../src/contracts/index.ts';
import { openPath } from '../../src/cli/files.ts';
import { prepareMerge as prepareWith, type OpenSource } from '../../src/pipeline/prepare.ts';
import { nodeHost } from '../../src/pipeline/runtime/nodeHost.ts';
import { bufferSource, encodeSafetensors, readSafetensors } from '../../src/pipeline/io/safetensors.ts';
import { floatTensor, type HostTensor } from '../../src/pipeline/model/tensor.ts';
import { codeOf as failure, fixture } from './io/helpers.ts';

const EXAMPLE = resolve(import.meta.dirname, '..', '..', 'examples', 'fashion-mlp6x128');
const example = async () => (await readSafetensors(bufferSource(readFileSync(join(EXAMPLE, 'seed1.safetensors'))))).tensors;
const GRAPH = (last = 13) => ({
  layout: 'pytorch', input: [1, 28, 28],
  layers: [{ type: 'flatten' }, ...[1, 3, 5, 7, 9, 11, 13].filter((i) => i <= last).flatMap((i) => [{ type: 'linear', name: `layers.${i}` }, ...(i < last ? [{ type: 'relu' }] : [])])],
});

/** Files by name, in memory: what a request's `{"path"}` references open to. */
function memory(files: Record<string, Uint8Array>): OpenSource {
  return async (ref) => {
    if (!('path' in ref)) throw new Error('paths only');
    if (ref.path.startsWith('/')) return openPath(ref.path);
    return bufferSource(files[ref.path]);
  };
}

const prepareMerge = (req: LocalMergeRequest, open: OpenSource) => prepareWith(req, open, nodeHost);

function request(over: Record<string, unknown>) {
  return LocalMergeRequest.parse({
    models: [{ path: 'a' }, { path: 'b' }],
    architecture: GRAPH(),
    data: { evaluation: { builtin: 'fashion-mnist', split: 'test', limit: 50 }, calibration: { builtin: 'fashion-mnist', split: 'train', limit: 50 } },
    ...over,
  });
}

describe('no silent wrong merges', () => {
  it('a graph that stops before the classifier: class_count_mismatch (not a 0 % accuracy report)', async () => {
    const bytes = encodeSafetensors(await example());
    const msg = await failure(prepareMerge(request({ architecture: GRAPH(11) }), memory({ a: bytes, b: bytes })));
    expect(msg).toMatch(/^class_count_mismatch: data\.evaluation: the net has 128 outputs \(layer "layers\.11"\) and the data has 10 classes/);
  });

  it('tensors the graph does not read: unused_tensors listing them, or with allowUnusedTensors a warning', async () => {
    const tensors = await example();
    tensors.set('ema.layers.1.weight', tensors.get('layers.1.weight')!);
    const bytes = encodeSafetensors(tensors);
    const files = memory({ a: bytes, b: bytes });
    expect(await failure(prepareMerge(request({}), files))).toMatch(/^unused_tensors: models\.0: 1 tensor the architecture does not read: ema\.layers\.1\.weight; .*"allowUnusedTensors": true/);
    const ok = await prepareMerge(request({ allowUnusedTensors: true }), files);
    expect(ok.unusedTensors).toEqual(['ema.layers.1.weight']);
    expect(ok.warnings.join('\n')).toMatch(/models\.0: 1 tensor is not read by the architecture and left out of the merge: ema\.layers\.1\.weight/);
  });

  it('samples must have the input\'s shape, not just its size, unless data.reshape', async () => {
    const bytes = encodeSafetensors(await example());
    const flat = { ...GRAPH(), input: [784], layers: GRAPH().layers.slice(1) };
    expect(await failure(prepareMerge(request({ architecture: flat }), memory({ a: bytes, b: bytes })))).toMatch(/^dataset_shape_mismatch: data\.evaluation: samples have shape \[1, 28, 28\], the architecture's input is \[784\]; set "data": \{"reshape": true\}/);
    const ok = await prepareMerge(request({ architecture: flat, data: { evaluation: { builtin: 'fashion-mnist', limit: 20 }, calibration: { builtin: 'fashion-mnist', split: 'train', limit: 20 }, reshape: true } }), memory({ a: bytes, b: bytes }));
    expect(ok.graph.input).toEqual({ kind: 'flat', features: 784 });
    // the case: x[50, 4, 14, 14] is as many values as [1, 28, 28], and is not an image of it
    const x = floatTensor([50, 4, 14, 14], new Float32Array(50 * 784).fill(0.5));
    const y: HostTensor = { kind: 'int', dtype: 'U8', shape: [50], bytes: Uint8Array.from({ length: 50 }, (_, i) => i % 10) };
    const data = encodeSafetensors({ x, y });
    expect(await failure(prepareMerge(request({ data: { evaluation: { path: 'd' } } }), memory({ a: bytes, b: bytes, d: data })))).toMatch(/^dataset_shape_mismatch: data\.evaluation: samples have shape \[4, 14, 14\], the architecture's input is \[1, 28, 28\]/);
  });

  it('non-finite weights fail at load, naming the model and the tensor', async () => {
    const tensors = await example();
    const w = tensors.get('layers.5.bias') as { data: Float32Array };
    w.data[3] = NaN;
    const bad = encodeSafetensors(tensors);
    const good = readFileSync(join(EXAMPLE, 'seed2.safetensors'));
    expect(await failure(prepareMerge(request({}), memory({ a: good, b: bad })))).toMatch(/^non_finite_weights: models\.1: tensor "layers\.5\.bias" holds 1 NaN or infinite value/);
  });
});

describe('the architecture read from the checkpoint', () => {
  it('two formats of one Hugging Face ResNet (a .zip of its folder, a sharded folder) with no architecture: detected from config.json, said in provenance', async () => {
    const x = floatTensor([20, 3, 32, 32], Float32Array.from({ length: 20 * 3 * 32 * 32 }, (_, i) => (i % 97) / 97));
    const y: HostTensor = { kind: 'int', dtype: 'I64', shape: [20], bytes: new Uint8Array(new BigInt64Array(Array.from({ length: 20 }, (_, i) => BigInt(i % 10))).buffer) };
    const data = encodeSafetensors({ x, y });
    const req = LocalMergeRequest.parse({ models: [{ path: fixture('hf_resnet.zip') }, { path: fixture('hf_resnet_sharded') }], data: { evaluation: { path: 'd' } } });
    const p = await prepareMerge(req, memory({ d: data }));
    expect(p.provenance.architecture).toMatchObject({ source: 'config.json', family: expect.stringMatching(/Hugging Face ResNetForImageClassification/) });
    expect(p.provenance.architecture.architecture).toMatchObject({ layout: 'pytorch', input: [3, 32, 32] });
    expect(p.provenance.checkpoints.map((c) => c.format)).toEqual(['torch', 'safetensors-sharded']);
    expect(p.models[0]).toEqual(p.models[1]); // the same weights, whatever the container
  });

  it('an undetectable checkpoint is a named error asking for architecture', async () => {
    const bytes = encodeSafetensors(await example());
    const req = LocalMergeRequest.parse({ models: [{ path: 'a' }, { path: 'b' }], data: { evaluation: { builtin: 'fashion-mnist', limit: 10 } } });
    expect(await failure(prepareMerge(req, memory({ a: bytes, b: bytes })))).toMatch(/^architecture_not_detected: .*nn\.Sequential.*give "architecture"/);
  });
});
