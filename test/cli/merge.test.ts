import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Report } from '../../src/contracts/index.ts';
import { bufferSource, readSafetensors } from '../../src/pipeline/io/safetensors.ts';

const root = resolve(import.meta.dirname, '..', '..');
const example = join(root, 'examples', 'fashion-mlp6x128');

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
    for (const f of ['merged.safetensors', 'report.json', 'report.svg']) expect(existsSync(join(out, f))).toBe(true);
    const report = Report.parse(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')));
    expect(report.alphas).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(report.alignment.method).toBe('weight');
    expect(report.alignment.permutations).toHaveLength(6);
    expect(report.variants.repaired?.method).toBe('repair');
    expect(report.variants.repaired!.barrier.loss.max).toBeLessThan(report.variants.aligned!.barrier.loss.max);
    expect(report.variants.aligned!.barrier.loss.max).toBeLessThan(report.variants.naive.barrier.loss.max);
    expect(report.evaluation).toEqual({ samples: 2000, calibrationSamples: 2000 });
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

  it('bad input: non-zero exit with a one-line reason, never a stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'basin-cli-bad-'));
    const cases: [string, string, RegExp][] = [
      ['not-json.json', '{"models": [', /bad_request: .* is not valid JSON/],
      ['invalid.json', JSON.stringify({ models: [{ path: 'a' }], architecture: { template: 'mlp', input: [784], widths: [8] }, data: { evaluation: { builtin: 'mnist' } } }), /validation_failed: models: /],
      ['missing-file.json', JSON.stringify({ models: [{ path: 'nope1.safetensors' }, { path: 'nope2.safetensors' }], architecture: { template: 'mlp', input: [784], widths: [8] }, data: { evaluation: { builtin: 'mnist' } } }), /file_not_found: /],
      ['wrong-arch.json', JSON.stringify({ models: [{ path: join(example, 'seed1.safetensors') }, { path: join(example, 'seed2.safetensors') }], architecture: { template: 'mlp', input: [1, 28, 28], widths: [64] }, data: { evaluation: { builtin: 'fashion-mnist' } } }), /shape_mismatch: models\.0: layer "layers\.1" \(linear\): tensor "layers\.1\.weight" has 128 outputs, the architecture says 64/],
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
});
