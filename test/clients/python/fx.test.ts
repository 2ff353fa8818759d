import { describe, expect, it, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { LocalMergeRequest, type Report } from '../../../src/contracts/index.ts';
import { openPath } from '../../../src/cli/files.ts';
import { runMerge } from '../../../src/pipeline/merge.ts';
import { initBackend } from '../../../src/pipeline/runtime/backend.ts';
import { prepareMerge } from '../../../src/pipeline/prepare.ts';
import { openCheckpoint } from '../../../src/pipeline/io/checkpoint.ts';
import { nodeHost } from '../../../src/pipeline/runtime/nodeHost.ts';
import type { StateDict } from '../../../src/pipeline/model/tensor.ts';
import { basinLogits, expectedOutputs, maxRelDiff } from '../../pipeline/io/helpers.ts';

const root = resolve(import.meta.dirname, '..', '..', '..');

/**
 * A Python with torch: $BASIN_PYTHON, python3 on PATH, or Debian's /usr/bin/python3 (where
 * python3-torch installs; CI installs it). Without one these tests are skipped, and say so.
 */
function pythonWithTorch(): string | undefined {
  for (const py of [process.env.BASIN_PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean) as string[]) {
    if (spawnSync(py, ['-c', 'import torch, torch.fx'], { encoding: 'utf8' }).status === 0) return py;
  }
  return undefined;
}
const python = pythonWithTorch();
if (!python) console.warn('test/clients/python/fx.test.ts: skipped: no python3 with torch (apt-get install python3-torch, or set BASIN_PYTHON)');

/** The graphs a person would write for the models in fx_models.py, by hand. */
const HAND: Record<string, unknown> = {
  mlp: { layout: 'pytorch', input: [1, 28, 28], layers: [{ type: 'flatten' }, { type: 'linear', name: '1' }, { type: 'relu' }, { type: 'linear', name: '3' }, { type: 'relu' }, { type: 'linear', name: '6' }] },
  vgg: {
    layout: 'pytorch', input: [1, 28, 28],
    layers: [
      { type: 'conv2d', name: 'features.0', padding: 1 }, { type: 'batchnorm', name: 'features.1' }, { type: 'relu' }, { type: 'maxpool' },
      { type: 'conv2d', name: 'features.4', padding: 1 }, { type: 'relu' }, { type: 'maxpool' }, { type: 'flatten' }, { type: 'linear', name: 'classifier' },
    ],
  },
  resnet: {
    layout: 'pytorch', input: [1, 28, 28],
    layers: [
      { type: 'conv2d', name: 'conv1', padding: 1, bias: false }, { type: 'batchnorm', name: 'bn1' }, { type: 'relu', id: 'stem' },
      { type: 'conv2d', name: 'layer1.conv1', padding: 1, bias: false }, { type: 'batchnorm', name: 'layer1.bn1' }, { type: 'relu' },
      { type: 'conv2d', name: 'layer1.conv2', padding: 1, bias: false }, { type: 'batchnorm', name: 'layer1.bn2' },
      { type: 'add', id: 'b1', inputs: ['layer1.bn2', 'stem'] }, { type: 'relu', id: 'b1.out' },
      { type: 'conv2d', name: 'layer2.conv1', stride: 2, padding: 1, bias: false }, { type: 'batchnorm', name: 'layer2.bn1' }, { type: 'relu' },
      { type: 'conv2d', name: 'layer2.conv2', padding: 1, bias: false }, { type: 'batchnorm', name: 'layer2.bn2' },
      { type: 'conv2d', name: 'layer2.shortcut.0', stride: 2, bias: false, inputs: ['b1.out'] }, { type: 'batchnorm', name: 'layer2.shortcut.1' },
      { type: 'add', inputs: ['layer2.bn2', 'layer2.shortcut.1'] }, { type: 'relu' }, { type: 'globalavgpool' }, { type: 'linear', name: 'fc' },
    ],
  },
  // timm's VisionTransformer with the class token: what the vit template expands to
  vit: { template: 'vit', input: [1, 28, 28], patch: 7, dim: 32, depth: 2, heads: 4, mlpHidden: 64, classes: 10, pool: 'token', eps: 1e-6, naming: 'timm' },
  // global_pool="avg" (fc_norm after the mean of the patch tokens) with tanh GELU, which the template does not take: a graph
  vitavg: {
    layout: 'pytorch', input: [1, 28, 28],
    layers: [
      { type: 'patchembed', name: 'patch_embed.proj', patch: 7, out: 32 }, { type: 'clstoken', name: 'cls_token' }, { type: 'posembed', name: 'pos_embed' },
      ...[0, 1].flatMap((i) => [
        { type: 'layernorm', name: `blocks.${i}.norm1`, eps: 1e-6 }, { type: 'attention', name: `blocks.${i}.attn`, heads: 4 },
        { type: 'add', id: `s${i}a`, inputs: [i ? `s${i - 1}m` : 'pos_embed', `blocks.${i}.attn`] },
        { type: 'layernorm', name: `blocks.${i}.norm2`, eps: 1e-6 }, { type: 'linear', name: `blocks.${i}.mlp.fc1` }, { type: 'gelu', approximate: 'tanh' },
        { type: 'linear', name: `blocks.${i}.mlp.fc2` }, { type: 'add', id: `s${i}m`, inputs: [`s${i}a`, `blocks.${i}.mlp.fc2`] },
      ]),
      { type: 'tokenpool', pool: 'avg', skip: 1 }, { type: 'layernorm', name: 'fc_norm', eps: 1e-6 }, { type: 'linear', name: 'head' },
    ],
  },
};

describe.skipIf(!python)('torch.fx exporter (clients/python/basin/fx.py)', () => {
  const out = mkdtempSync(join(tmpdir(), 'basin-fx-'));
  beforeAll(() => {
    const r = spawnSync(python!, [join(root, 'test', 'clients', 'python', 'fx_models.py'), out], { encoding: 'utf8', env: { ...process.env, PYTHONPATH: join(root, 'clients', 'python') } });
    if (r.status !== 0) throw new Error(`fx_models.py failed: ${r.stderr}`);
  });

  async function merge(name: string, architecture: unknown): Promise<{ merged: StateDict; report: Report }> {
    const request = LocalMergeRequest.parse({
      models: [{ path: join(out, `${name}-1.safetensors`) }, { path: join(out, `${name}-2.safetensors`) }],
      architecture,
      data: { evaluation: { builtin: 'fashion-mnist', split: 'test', limit: 100 }, calibration: { builtin: 'fashion-mnist', split: 'train', limit: 100 } },
      sweep: { points: 3 },
    });
    const backend = await initBackend({ prefer: ['wasm', 'cpu'] });
    const prepared = await prepareMerge(request, async (ref) => openPath((ref as { path: string }).path), nodeHost);
    return runMerge({ ...prepared, options: request, backend: backend.name });
  }

  for (const name of ['mlp', 'vgg', 'resnet', 'vit', 'vitavg']) {
    it(`${name}: the exported graph computes what PyTorch computes, and merges exactly as the hand-written graph`, async () => {
      await tf.setBackend('cpu');
      const exported = JSON.parse(readFileSync(join(out, `${name}.json`), 'utf8'));
      const { x, y } = await expectedOutputs(join(out, name));
      const ck = await openCheckpoint(await openPath(join(out, `${name}-1.safetensors`)), name, nodeHost.archives);
      expect(maxRelDiff(await basinLogits(ck, exported, x), y.data)).toBeLessThan(2e-5);
      await ck.close();
      const a = await merge(name, exported);
      const b = await merge(name, HAND[name]);
      expect(a.report.variants).toEqual(b.report.variants);
      expect(a.report.alignment.permutations).toEqual(b.report.alignment.permutations);
      expect([...a.merged.keys()].sort()).toEqual([...b.merged.keys()].sort());
      for (const [k, t] of a.merged) expect(t).toEqual(b.merged.get(k));
    });
  }

  it('torch\'s own MultiheadAttention: refused by name, with the way in for Hugging Face ViTs', () => {
    expect(readFileSync(join(out, 'mha.error'), 'utf8')).toMatch(/^attn \(MultiheadAttention\): basin's attention reads timm's Attention .* save_pretrained/);
  });
});
