import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { InspectResult } from '../../src/cli/inspect.ts';

const root = resolve(import.meta.dirname, '..', '..');
const fixtures = join(root, 'test', 'fixtures', 'checkpoints');

function basin(args: string[], cwd = root) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'basin.mjs'), ...args], { encoding: 'utf8', cwd });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const json = (args: string[]): InspectResult => {
  const r = basin([...args, '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
};

describe('basin inspect', () => {
  it('each example: format, tensors, the architecture detected (conv nets) or not guessed (MLPs), and its permutation spaces', () => {
    for (const name of readdirSync(join(root, 'examples')).filter((d) => existsSync(join(root, 'examples', d, 'seed1.safetensors')))) {
      const dir = join(root, 'examples', name);
      const mlp = name.includes('mlp');
      // an MLP's activations are not in its checkpoint: its request says them
      const r = json(['inspect', join(dir, 'seed1.safetensors'), ...(mlp ? ['--architecture', join(dir, 'request.json')] : [])]);
      expect(r.format).toBe('safetensors');
      expect(r.tensors[0]).toEqual({ name: expect.any(String), dtype: 'F32', shape: expect.any(Array), bytes: expect.any(Number) });
      expect(r.architecture?.source).toBe(mlp ? 'request' : 'tensor names');
      expect(r.problems).toEqual([]);
      expect(r.permutations.length).toBeGreaterThan(0);
    }
    const bare = json(['inspect', join(root, 'examples', 'fashion-mlp6x128', 'seed1.safetensors')]);
    expect(bare.problems.map((p) => p.code)).toEqual(['architecture_not_detected']);
  });

  it('a torchvision checkpoint on a terminal: the family, the template JSON, the spaces, no problems', () => {
    const r = basin(['inspect', join(fixtures, 'torchvision_resnet18.pth'), '--input', '3,32,32']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/format +torch\n/);
    expect(r.stdout).toMatch(/conv1\.weight +F32 +\[4, 3, 7, 7\] +2352/);
    expect(r.stdout).toMatch(/architecture +torchvision \/ timm ResNet-18 \(read from tensor names\)\n +\{"template":"resnet18","input":\[3,32,32\],"classes":10,"width":4\}/);
    expect(r.stdout).toMatch(/permutations +12 spaces/);
    expect(r.stdout).toMatch(/problems +none/);
  });

  it('a tfjs folder, a Hugging Face archive and a Hugging Face ViT with --json', () => {
    const tfjs = json(['inspect', join(fixtures, 'tfjs_residual')]);
    expect(tfjs).toMatchObject({ format: 'tfjs-layers', architecture: { source: 'model.json', architecture: { layout: 'tfjs', input: [6, 6, 2] } }, problems: [] });
    const hf = json(['inspect', join(fixtures, 'hf_resnet.tar')]);
    expect(hf.notes).toContain('weights read from pytorch_model.bin');
    expect(hf.architecture?.family).toMatch(/ResNetForImageClassification/);
    const vit = json(['inspect', join(fixtures, 'hf_vit')]);
    expect(vit).toMatchObject({ architecture: { source: 'config.json', architecture: { template: 'vit', heads: 2, naming: 'hf' } }, problems: [] });
  });

  it('problems a merge would meet: a shape that does not fit, unused and non-finite tensors (architecture inline or a YAML file)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'basin-inspect-'));
    const header = JSON.stringify({ 'fc.weight': { dtype: 'F32', shape: [2, 1], data_offsets: [0, 8] }, extra: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } });
    const body = Buffer.alloc(12);
    body.writeFloatLE(NaN, 0);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    writeFileSync(join(dir, 'w.safetensors'), Buffer.concat([len, Buffer.from(header), body]));
    const arch = JSON.stringify({ layout: 'pytorch', input: [3], layers: [{ type: 'linear', name: 'fc', bias: false }] });
    writeFileSync(join(dir, 'arch.yaml'), `layout: pytorch\ninput: [1]\nlayers:\n  - {type: linear, name: fc, bias: false}\n`);
    const wrong = json(['inspect', join(dir, 'w.safetensors'), '--architecture', arch]);
    expect(wrong.problems.map((p) => p.code)).toEqual(['shape_mismatch', 'non_finite_weights']);
    expect(wrong.problems[0].message).toBe('layer "fc" (linear): tensor "fc.weight" has shape [2, 1], expected [2, 3]');
    const yaml = basin(['inspect', join(dir, 'w.safetensors'), '--architecture', join(dir, 'arch.yaml')]);
    expect(yaml.stdout).toMatch(/unused_tensors: 1 tensor the architecture does not read: extra/);
    expect(yaml.stdout).toMatch(/non_finite_weights: tensor "fc\.weight" holds 1 NaN or infinite value/);
  });

  it('a hostile pickle: exit 2 with one line naming the global, and its payload never runs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'basin-evil-cli-'));
    const r = basin(['inspect', join(fixtures, 'evil_os_system.pt')], dir);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^basin: forbidden_global: .*names (posix|os)\.system/);
    expect(existsSync(join(dir, 'pwned-by-basin-fixture'))).toBe(false);
  });
});
