import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCheckpoint, readFinite, sniff, stripPrefix } from '../../../src/pipeline/io/checkpoint.ts';
import { detectArchitecture } from '../../../src/pipeline/io/detect/index.ts';
import { bufferSource, encodeSafetensors } from '../../../src/pipeline/io/safetensors.ts';
import { floatTensor } from '../../../src/pipeline/model/tensor.ts';
import { nodeHost } from '../../../src/pipeline/runtime/nodeHost.ts';
import { basinLogits, codeOf, expectedOutputs, fixture, maxRelDiff, openFixture, softmaxRows } from './helpers.ts';

const MLP = { layout: 'pytorch', input: [1, 28, 28], layers: [{ type: 'flatten' }, { type: 'linear', name: '1' }, { type: 'relu' }, { type: 'linear', name: '3' }] };

/**
 * Every format round-trips a real model: the fixture (written by PyTorch, or by tfjs) is read, its
 * architecture given or detected, and basin's forward pass reproduces the framework's own outputs.
 */
describe('checkpoint formats: basin computes what PyTorch / tfjs computed', () => {
  const cases: [string, string, unknown?][] = [
    ['torch.save state_dict (zip)', 'mlp.pt', MLP],
    ['torchvision ResNet-18 (.pth)', 'torchvision_resnet18.pth'],
    ['the same in a PyTorch Lightning .ckpt ("model." names, AttributeDict hyper-parameters beside them)', 'lightning_resnet18.ckpt'],
    ['torchvision ResNet-50 (safetensors)', 'torchvision_resnet50.safetensors'],
    ['torchvision VGG-11-BN nested under "model", 224x224', 'torchvision_vgg11_bn.pth'],
    ['timm ResNet-34 Hub folder (config.json + model.safetensors)', 'timm_resnet34'],
    ['HF ResNetForImageClassification, sharded safetensors + index', 'hf_resnet_sharded'],
    ['HF folder as .tar (pytorch_model.bin inside)', 'hf_resnet.tar'],
    ['HF folder as .zip (stored weights, deflated config)', 'hf_resnet.zip'],
    ['HF sharded folder as .tar.gz', 'hf_resnet_sharded.tar.gz'],
    ['tfjs Sequential LayersModel (model.json + 2 shards)', 'tfjs_sequential'],
    ['tfjs functional LayersModel with a residual add', 'tfjs_residual'],
  ];
  for (const [what, path, given] of cases) {
    it(what, async () => {
      const name = path.replace(/\.(pt|pth|ckpt|safetensors|tar|zip|tar\.gz)$/, '').replace(/_sharded$/, '').replace(/^lightning_/, 'torchvision_');
      const { x, y, probs } = await expectedOutputs(name);
      const ck = await openFixture(path);
      try {
        let arch = given;
        if (!arch) {
          const d = detectArchitecture({ tensors: ck.tensors, config: ck.config, topology: ck.topology }, { sampleShape: x.shape.slice(1) });
          if (d.prefix) stripPrefix(ck, d.prefix, 'test');
          arch = d.architecture;
        }
        const out = await basinLogits(ck, arch, x);
        const classes = y.shape[1];
        expect(maxRelDiff(probs ? softmaxRows(out, classes) : out, y.data)).toBeLessThan(2e-5);
      } finally {
        await ck.close();
      }
    });
  }
});

describe('torch.save files', () => {
  it('nested {"state_dict": ...} (with optimizer state, argparse.Namespace and a numpy scalar beside it) and DDP\'s "module." prefix: the same tensors, said in notes', async () => {
    const plain = await openFixture('mlp.pt');
    const want = await readFinite(plain, '1.weight', 't');
    for (const [file, note] of [['mlp_nested_state_dict.pt', /under key "state_dict"/], ['mlp_ddp_model.pt', /under key "model" .*not used: "model_ema"/]] as const) {
      const ck = await openFixture(file);
      expect([...ck.tensors.keys()]).toEqual(['1.weight', '1.bias', '3.weight', '3.bias']);
      expect(ck.notes.join('\n')).toMatch(note);
      expect(await readFinite(ck, '1.weight', 't')).toEqual(want);
      if (file === 'mlp_ddp_model.pt') expect(ck.notes.join('\n')).toMatch(/prefix "module\." .* removed/);
      await ck.close();
    }
    await plain.close();
  });

  it('the legacy non-zip format is a named error with the one-line conversion', async () => {
    expect(await codeOf(openFixture('mlp_legacy.pt'))).toMatch(/^legacy_torch_format: .*_use_new_zipfile_serialization=True.*save_file\(model\.state_dict\(\)/);
  });

  it('a pickle that names os.system is refused, naming it, and nothing runs', async () => {
    const cwd = process.cwd();
    const dir = mkdtempSync(join(tmpdir(), 'basin-evil-'));
    process.chdir(dir); // the payload would `touch pwned-by-basin-fixture` here
    try {
      expect(await codeOf(openFixture('evil_os_system.pt'))).toMatch(/^forbidden_global: .*data\.pkl.*names (posix|os)\.system/);
    } finally {
      process.chdir(cwd);
    }
    const { existsSync } = await import('node:fs');
    expect(existsSync(join(dir, 'pwned-by-basin-fixture'))).toBe(false);
  });
});

describe('archives are read safely', () => {
  const refused: [string, RegExp][] = [
    ['traversal.zip', /unsafe_archive: .*(\.\.|relative path)/],
    ['symlink.zip', /unsafe_archive: .*symbolic link/],
    ['traversal.tar', /unsafe_archive: .*leaves the archive/],
    ['absolute.tar', /unsafe_archive: .*absolute path/],
    ['symlink.tar', /unsafe_archive: .*symbolic link to "\/etc\/passwd"/],
    ['hardlink.tar', /unsafe_archive: .*hard link/],
  ];
  for (const [file, want] of refused) it(`refuses ${file}`, async () => expect(await codeOf(openFixture('hostile', file))).toMatch(want));

  it('a zip bomb stops at the extraction bound, before it is inflated', async () => {
    const { openPath } = await import('../../../src/cli/files.ts');
    const input = await openPath(fixture('hostile', 'bomb.zip'));
    const limits = { maxEntries: 100, maxEntryBytes: 1024 ** 3, maxTotalBytes: 1024 ** 3, maxExtractedBytes: 1024 ** 2 };
    expect(await codeOf(openCheckpoint(input, 'bomb.zip', nodeHost.archives, limits))).toMatch(/^unsafe_archive: .*inflating "model\/model\.safetensors" would hold .* over the limit/);
    const one = await openPath(fixture('hostile', 'bomb.zip'));
    expect(await codeOf(openCheckpoint(one, 'bomb.zip', nodeHost.archives, { ...limits, maxEntryBytes: 1024 ** 2 }))).toMatch(/^unsafe_archive: .*over the limit of .* per file/);
    const all = await openPath(fixture('hostile', 'bomb.zip'));
    expect(await codeOf(openCheckpoint(all, 'bomb.zip', nodeHost.archives, { ...limits, maxTotalBytes: 1024 ** 2 }))).toMatch(/^unsafe_archive: .*add up to .* over the limit/);
    const tar = await openPath(fixture('hf_resnet.tar'));
    expect(await codeOf(openCheckpoint(tar, 'hf_resnet.tar', nodeHost.archives, { ...limits, maxTotalBytes: 1024 }))).toMatch(/^unsafe_archive: hf_resnet\.tar: its files add up to more than the limit/);
  });
});

describe('anything else is unsupported_format, naming what it looks like and how to convert', () => {
  const dir = mkdtempSync(join(tmpdir(), 'basin-formats-'));
  const file = (name: string, bytes: Uint8Array | string) => { writeFileSync(join(dir, name), bytes); return join(dir, name); };
  const cases: [string, Uint8Array | string, RegExp][] = [
    ['keras.h5', Uint8Array.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]), /Keras \.h5.*tensorflowjs_converter/],
    ['plain.pkl', Uint8Array.from([0x80, 0x04, 0x95, 0x05, 0, 0, 0, 0, 0, 0, 0, 0x7d, 0x94, 0x2e]), /plain Python pickle/],
    ['config.json', '{"model_type": "vit"}', /JSON file with no weights/],
    ['model.gguf', 'GGUF\x03\0\0\0', /GGUF/],
    ['random.bin', 'not a model at all, just text', /first bytes 6e 6f 74/],
  ];
  for (const [name, bytes, want] of cases) {
    it(name, async () => {
      const { openPath } = await import('../../../src/cli/files.ts');
      const msg = await codeOf(openCheckpoint(await openPath(file(name, bytes)), name, nodeHost.archives));
      expect(msg).toMatch(/^unsupported_format: /);
      expect(msg).toMatch(want);
      expect(msg).toMatch(/save_file\(model\.state_dict\(\), "model\.safetensors"\)/);
    });
  }

  it('sniffs by bytes, not by name', () => {
    const st = encodeSafetensors({ w: floatTensor([1], new Float32Array([1])) });
    expect(sniff(st.subarray(0, 512), st.length)).toBe('safetensors');
    expect(sniff(new TextEncoder().encode('PK\x03\x04rest'), 100)).toBe('zip');
  });
});

describe('non-finite weights', () => {
  it('are refused at load, naming the tensor', async () => {
    const bytes = encodeSafetensors({ 'fc.weight': floatTensor([2, 2], new Float32Array([1, NaN, Infinity, 0])), 'fc.bias': floatTensor([2], new Float32Array([0, 0])) });
    const ck = await openCheckpoint(bufferSource(bytes), 'models.0', nodeHost.archives);
    await readFinite(ck, 'fc.bias', 'models.0');
    expect(await codeOf(readFinite(ck, 'fc.weight', 'models.0'))).toBe('non_finite_weights: models.0: tensor "fc.weight" holds 2 NaN or infinite values (first at flat index 1); a diverged or corrupted checkpoint cannot be merged');
  });
});
