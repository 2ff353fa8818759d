import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Report } from '../../src/contracts/index.ts';
import { bufferSource, encodeSafetensors, readSafetensors } from '../../src/pipeline/io/safetensors.ts';
import { floatTensor } from '../../src/pipeline/model/tensor.ts';

const root = resolve(import.meta.dirname, '..', '..');
const example = join(root, 'examples', 'fashion-mlp6x128');
const fixtures = join(root, 'test', 'fixtures', 'checkpoints');

function basin(...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'basin.mjs'), ...args], { encoding: 'utf8', cwd: root, env: { ...process.env, BASIN_BACKEND: process.env.BASIN_BACKEND ?? '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Merge an example pair through the CLI with its request on `limit` images and a sweep of `points`; returns the output folder. */
function mergeExample(example: string, limit: number, points: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'basin-cli-'));
  const request = JSON.parse(readFileSync(join(example, 'request.json'), 'utf8'));
  request.models = request.models.map((m: { path: string }) => ({ path: join(example, m.path) }));
  request.data = { calibration: { builtin: 'fashion-mnist', split: 'train', limit }, evaluation: { builtin: 'fashion-mnist', split: 'test', limit } };
  request.sweep = { points };
  writeFileSync(join(dir, 'request.json'), JSON.stringify(request));
  const out = join(dir, 'out');
  const r = basin('merge', join(dir, 'request.json'), '--out', out);
  expect(r.stderr).not.toMatch(/internal error/);
  expect(r.code).toBe(0);
  return out;
}

describe('basin merge (CLI)', () => {
  it('merges the committed Fashion-MNIST MLP pair: report structure, weights, and REPAIR lowers the aligned barrier', () => {
    const out = mergeExample(example, 2000, 5);
    for (const f of ['merged.safetensors', 'report.json', 'report.svg', 'report.html']) expect(existsSync(join(out, f))).toBe(true);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toMatch(/^<!doctype html>[\s\S]*<svg[\s\S]*Permutation spaces/);
    const report = Report.parse(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')));
    expect(report.alphas).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(report.alignment.method).toBe('weight');
    expect(report.alignment.permutations).toHaveLength(6);
    expect(report.variants.repaired?.method).toBe('repair');
    expect(report.variants.repaired!.barrier.loss.max).toBeLessThan(report.variants.aligned!.barrier.loss.max);
    expect(report.variants.aligned!.barrier.loss.max).toBeLessThan(report.variants.naive.barrier.loss.max);
    expect(report.evaluation).toEqual({ samples: 2000, calibrationSamples: 2000, dataset: 'fashion-mnist test', calibrationDataset: 'fashion-mnist train' });
    expect(report.modelNames).toEqual(['seed1.safetensors', 'seed2.safetensors']);
    // endpoints are the trained models themselves: well above chance
    expect(report.variants.naive.accuracy[0]).toBeGreaterThan(0.8);
    const merged = readSafetensors(bufferSource(readFileSync(join(out, 'merged.safetensors'))));
    return merged.then(({ tensors, metadata }) => {
      expect(metadata.variant).toBe('repaired');
      expect([...tensors.keys()].sort()).toEqual([1, 3, 5, 7, 9, 11, 13].flatMap((i) => [`layers.${i}.bias`, `layers.${i}.weight`]).sort());
      expect(readFileSync(join(out, 'report.svg'), 'utf8')).toMatch(/^<svg[\s\S]*polyline[\s\S]*<\/svg>$/);
    });
  });

  it('merges the committed ViT pair (vit template, timm names): its request\'s activation matching lowers the barrier; the report names the spaces and the corrected sites', async () => {
    const out = mergeExample(join(root, 'examples', 'fashion-vit'), 1000, 3);
    const report = Report.parse(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')));
    // the stream, and per block the q/k units, the v units and the MLP hidden units
    expect(report.alignment.method).toBe('activation');
    expect(report.alignment.permutations).toHaveLength(1 + 4 * 3);
    expect(report.alignment.permutations.find((p) => p.axes.includes('blocks.0.attn.qkv.weight:0@64'))?.size).toBe(64);
    expect(report.variants.naive.accuracy[0]).toBeGreaterThan(0.8);
    expect(report.variants.aligned!.barrier.loss.max).toBeLessThan(report.variants.naive.barrier.loss.max);
    expect(report.variants.aligned!.accuracy[1]).toBeGreaterThan(report.variants.naive.accuracy[1]);
    expect(report.variants.repaired!.sites).toEqual(expect.arrayContaining(['blocks.0.mlp.fc1', 'blocks.0.attn', 'blocks.3.mlp.fc2']));
    const { tensors } = await readSafetensors(bufferSource(readFileSync(join(out, 'merged.safetensors'))));
    expect([...tensors.keys()]).toEqual(expect.arrayContaining(['cls_token', 'pos_embed', 'patch_embed.proj.weight', 'blocks.3.attn.qkv.weight', 'norm.bias', 'head.weight']));
    expect(tensors.get('blocks.0.attn.qkv.weight')!.shape).toEqual([192, 64]);
  });

  it('a YAML request with no architecture: two formats of one Hugging Face ResNet, detected from config.json and said so', () => {
    const dir = mkdtempSync(join(tmpdir(), 'basin-cli-hf-'));
    // 3x32x32 samples, 10 classes (declared: the labels cover them all anyway)
    const n = 20;
    const x = new Float32Array(n * 3 * 32 * 32).map((_, i) => ((i * 7919) % 101) / 101);
    const y = new BigInt64Array(Array.from({ length: n }, (_, i) => BigInt(i % 10)));
    writeFileSync(join(dir, 'data.safetensors'), encodeSafetensors({ x: floatTensor([n, 3, 32, 32], x), y: { kind: 'int', dtype: 'I64', shape: [n], bytes: new Uint8Array(y.buffer) } }, { classes: '10' }));
    writeFileSync(join(dir, 'request.yaml'), [
      'models:', `  - path: ${join(fixtures, 'hf_resnet.zip')}`, `  - path: ${join(fixtures, 'hf_resnet_sharded')}`,
      'data:', '  evaluation: {path: data.safetensors}', 'sweep: {points: 3}', 'compute: {batchSize: 10}', '',
    ].join('\n'));
    const r = basin('merge', join(dir, 'request.yaml'), '--out', join(dir, 'out'));
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/architecture: Hugging Face ResNetForImageClassification \(bottleneck blocks 1\/1\/1\/1\), read from config\.json/);
    const report = Report.parse(JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8')));
    expect(report.architecture).toMatchObject({ source: 'config.json', architecture: { layout: 'pytorch', input: [3, 32, 32] } });
    expect(report.checkpoints).toEqual([
      { format: 'torch', notes: ['weights read from pytorch_model.bin'] },
      { format: 'safetensors-sharded', notes: ['2 shards read through model.safetensors.index.json'] },
    ]);
    // the same weights in two containers: every interpolation is the model itself
    const acc = report.variants.naive.accuracy;
    expect(acc.every((a) => a === acc[0])).toBe(true);
  });

  it('bad input: non-zero exit with a one-line reason, never a stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'basin-cli-bad-'));
    const cases: [string, string, RegExp][] = [
      ['not-json.json', '{"models": [', /bad_request: .* is not valid JSON/],
      ['invalid.json', JSON.stringify({ models: [{ path: 'a' }], architecture: { template: 'mlp', input: [784], widths: [8] }, data: { evaluation: { builtin: 'mnist' } } }), /validation_failed: models: /],
      ['missing-file.json', JSON.stringify({ models: [{ path: 'nope1.safetensors' }, { path: 'nope2.safetensors' }], architecture: { template: 'mlp', input: [784], widths: [8] }, data: { evaluation: { builtin: 'mnist' } } }), /file_not_found: /],
      ['bad-normalize.json', JSON.stringify({ models: [{ path: join(example, 'seed1.safetensors') }, { path: join(example, 'seed2.safetensors') }], architecture: { template: 'mlp', input: [1, 28, 28], widths: [128, 128, 128, 128, 128, 128] }, data: { evaluation: { builtin: 'fashion-mnist', limit: 10, normalize: { mean: [0.1, 0.2], std: [1, 1] } } } }), /bad_dataset: .*normalize has 2 values per statistic; samples of shape \[1, 28, 28\] have 1 channels/],
      ['misplaced-option.json', JSON.stringify({ models: [{ path: 'a' }, { path: 'b' }], architecture: { template: 'mlp', input: [784], widths: [8] }, data: { evaluation: { builtin: 'mnist' } }, alignment: { method: 'weight', maxSteps: 3 } }), /validation_failed: alignment: alignment.maxSteps does not apply to alignment.method "weight"/],
      ['wrong-arch.json', JSON.stringify({ models: [{ path: join(example, 'seed1.safetensors') }, { path: join(example, 'seed2.safetensors') }], architecture: { template: 'mlp', input: [1, 28, 28], widths: [64] }, data: { evaluation: { builtin: 'fashion-mnist' } } }), /shape_mismatch: models\.0: layer "layers\.1" \(linear\): tensor "layers\.1\.weight" has 128 outputs, the architecture says 64/],
      // every issue, each union resolved to the branch meant
      ['typo.yaml', `models: [{path: a.safetensors}, {path: b.safetensors}]\narchitecture:\n  input: [784]\n  layers: [{type: Linear, name: "0"}, {type: relu}]\ndata: {evaluation: {builtin: mnist, split: tst}}\n`,
        /^basin: validation_failed: architecture\.layers\.0\.type: unknown layer type "Linear"; expected one of linear, conv2d, .* \(did you mean "linear"\?\); data\.evaluation\.split: .*"train"\|"test"\n$/],
      // a Hugging Face folder (3-channel ResNet) with MNIST (1 channel) and no architecture: read, detected, refused clearly
      ['hf-dir.json', JSON.stringify({ models: [{ path: join(fixtures, 'hf_resnet_sharded') }, { path: join(fixtures, 'hf_resnet.zip') }], data: { evaluation: { builtin: 'mnist', limit: 10 } } }), /^basin: dataset_shape_mismatch: data\.evaluation: samples have shape \[1, 28, 28\] \(784 values\); the architecture's input \[3, 224, 224\]/],
      ['legacy.json', JSON.stringify({ models: [{ path: join(fixtures, 'mlp_legacy.pt') }, { path: join(fixtures, 'mlp.pt') }], data: { evaluation: { builtin: 'mnist' } } }), /^basin: legacy_torch_format: models\.0: .*_use_new_zipfile_serialization=True/],
      ['short-graph.json', JSON.stringify({ models: [{ path: join(example, 'seed1.safetensors') }, { path: join(example, 'seed2.safetensors') }], architecture: { template: 'mlp', input: [1, 28, 28], widths: [128, 128, 128, 128, 128], classes: 128 }, data: { evaluation: { builtin: 'fashion-mnist', limit: 10 } } }), /^basin: class_count_mismatch: data\.evaluation: the net has 128 outputs/],
    ];
    for (const [name, body, want] of cases) {
      writeFileSync(join(dir, name), body);
      const r = basin('merge', join(dir, name), '--out', join(dir, 'out'));
      expect(r.code, name).toBe(2);
      expect(r.stderr.trim().split('\n'), name).toHaveLength(1);
      expect(r.stderr, name).toMatch(want);
    }
    expect(basin('frobnicate').code).toBe(2);
  });

  it('--help names only what a clone has', () => {
    const r = basin('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/DESIGN/);
    // what it points a reader at: documents and example paths, every one in the repository
    const files = r.stdout.match(/README\.md|openapi\.yaml|examples\/[\w./-]+\.json/g) ?? [];
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const file of files) expect(existsSync(join(root, file)), file).toBe(true);
  });
});
