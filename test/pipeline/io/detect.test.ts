import { describe, expect, it } from 'vitest';
import { Architecture } from '../../../src/contracts/index.ts';
import { detectArchitecture, type DetectInput } from '../../../src/pipeline/io/detect/index.ts';
import { detectHfVit, detectTimmVit } from '../../../src/pipeline/io/detect/vit.ts';
import { Names } from '../../../src/pipeline/io/detect/types.ts';
import { CheckpointError } from '../../../src/pipeline/io/errors.ts';
import { checkpointShapes } from '../../../src/pipeline/io/checkpoint.ts';
import { buildGraph } from '../../../src/pipeline/model/graph.ts';
import { expandTemplate } from '../../../src/pipeline/model/templates.ts';
import type { Dataset } from '../../../src/pipeline/io/datasets.ts';
import { ortEngine } from '../../../src/pipeline/runtime/ortEngine.ts';
import { basinLogits, expectedOutputs, loadState, maxRelDiff, openFixture } from './helpers.ts';

async function detectFixture(path: string, sampleShape?: number[]) {
  const ck = await openFixture(path);
  try {
    const input: DetectInput = { tensors: ck.tensors, config: ck.config, topology: ck.topology };
    return { input, shapes: checkpointShapes(ck), detection: detectArchitecture(input, { sampleShape }) };
  } finally {
    await ck.close();
  }
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof CheckpointError) return `${e.code}: ${e.message}`;
    throw e;
  }
  return 'no error';
}

/** Shapes by name, for detectors that read names alone. */
const names = (entries: Record<string, number[]>) => new Map(Object.entries(entries).map(([k, shape]) => [k, { shape }]));

describe('architecture detection on each supported family (the answer builds against its own checkpoint)', () => {
  const cases: [string, string, RegExp, Record<string, unknown>, number[]?][] = [
    ['torchvision ResNet-18', 'torchvision_resnet18.pth', /^torchvision \/ timm ResNet-18$/, { template: 'resnet18', input: [3, 32, 32], classes: 10, width: 4 }, [3, 32, 32]],
    ['torchvision ResNet-50 (224 assumed without data)', 'torchvision_resnet50.safetensors', /^torchvision \/ timm ResNet-50$/, { template: 'resnet50', input: [3, 224, 224], classes: 10, width: 4 }],
    ['timm ResNet-34 (timm config.json)', 'timm_resnet34', /^timm resnet34 \(torchvision \/ timm ResNet-34\)$/, { template: 'resnet34', input: [3, 32, 32], classes: 10, width: 4 }, [3, 32, 32]],
    ['torchvision VGG-11-BN', 'torchvision_vgg11_bn.pth', /^torchvision VGG with BatchNorm \(features 4 M 8 M 16 16 M 32 32 M 32 32 M\)$/, { layout: 'pytorch', input: [3, 224, 224] }],
    ['HF ResNetForImageClassification', 'hf_resnet_sharded', /^Hugging Face ResNetForImageClassification/, { layout: 'pytorch', input: [3, 32, 32] }, [3, 32, 32]],
    ['tfjs Sequential', 'tfjs_sequential', /^tfjs Sequential/, { layout: 'tfjs', input: [8, 8, 1] }],
    ['tfjs functional', 'tfjs_residual', /^tfjs Model/, { layout: 'tfjs', input: [6, 6, 2] }],
  ];
  for (const [what, path, family, arch, sample] of cases) {
    it(what, async () => {
      const { detection, shapes } = await detectFixture(path, sample);
      expect(detection.family).toMatch(family);
      expect(detection.architecture).toMatchObject(arch);
      expect(Architecture.safeParse(detection.architecture).success).toBe(true);
      expect(() => buildGraph(detection.architecture, shapes)).not.toThrow();
    });
  }

  it('through a wrapper\'s name prefix (a Lightning module\'s "model."): detected inside it, the prefix said and cut', async () => {
    const { detection } = await detectFixture('lightning_resnet18.ckpt', [3, 32, 32]);
    expect(detection).toMatchObject({ family: 'torchvision / timm ResNet-18', prefix: 'model.', architecture: { template: 'resnet18', width: 4 } });
    expect(detection.notes[0]).toMatch(/every tensor name starts with "model\."/);
  });

  it('basin\'s own templates: the committed examples\' ResNet and VGG', async () => {
    const { readFileSync } = await import('node:fs');
    const { bufferSource, readHeader } = await import('../../../src/pipeline/io/safetensors.ts');
    for (const [name, template] of [['fashion-resnet-bn', 'resnet20'], ['fashion-vgg', 'vgg']]) {
      const header = await readHeader(bufferSource(readFileSync(`examples/${name}/seed1.safetensors`)));
      const request = JSON.parse(readFileSync(`examples/${name}/request.json`, 'utf8'));
      const d = detectArchitecture({ tensors: header.entries }, { sampleShape: [1, 28, 28] });
      // the same layer graph the example's request describes
      expect(d.architecture.template).toBe(template);
      expect(expandTemplate(Architecture.parse(d.architecture) as never)).toEqual(expandTemplate(Architecture.parse(request.architecture) as never));
    }
  });
});

describe('Vision Transformers: detected as the vit template, and computing what PyTorch computes', () => {
  it('timm names: every field read from the shapes; heads from the 64-wide convention (said) or the timm config', async () => {
    const ck = await openFixture('timm_vit_tiny.safetensors');
    const t = new Names(ck.tensors);
    const d = detectTimmVit(t)!;
    expect(d.architecture).toEqual({ template: 'vit', input: [3, 32, 32], patch: 8, dim: 64, depth: 2, heads: 1, mlpHidden: 128, classes: 10, pool: 'token', eps: 1e-6, naming: 'timm' });
    expect(d.notes.join('\n')).toMatch(/heads = 1 \(width 64 \/ 64/);
    const timmConfig = { architecture: 'vit_small_patch8_32', num_classes: 10, global_pool: 'avg', pretrained_cfg: { input_size: [3, 32, 32] } };
    const viaConfig = detectArchitecture({ tensors: ck.tensors, config: timmConfig });
    expect(viaConfig.family).toBe('timm vit_small_patch8_32');
    expect(viaConfig.architecture).toMatchObject({ template: 'vit', heads: 6, pool: 'avg' });
    // the checkpoint has `norm` and no `fc_norm`: the expansion follows it, average pooling after the final norm
    const avg = detectArchitecture({ tensors: ck.tensors, config: { ...timmConfig, num_heads: 4 } }).architecture;
    expect(buildGraph(avg, checkpointShapes(ck)).nodes.map((n) => n.layer.type).slice(-3)).toEqual(['layernorm', 'tokenpool', 'linear']);
    await ck.close();
    expect(detectTimmVit(t, { heads: 6, pool: 'avg' })!.architecture).toMatchObject({ heads: 6, pool: 'avg' });
  });

  it('Hugging Face ViTForImageClassification: config.json gives heads, eps and size', async () => {
    const ck = await openFixture('hf_vit');
    const d = detectHfVit(new Names(ck.tensors), { heads: 2, eps: 1e-12, input: [3, 32, 32] })!;
    expect(d.architecture).toEqual({ template: 'vit', input: [3, 32, 32], patch: 8, dim: 64, depth: 2, heads: 2, mlpHidden: 128, classes: 10, pool: 'token', eps: 1e-12, naming: 'hf' });
    expect(detectArchitecture({ tensors: ck.tensors, config: ck.config })).toMatchObject({ architecture: d.architecture, source: 'config.json' });
    await ck.close();
  });

  for (const fixtureName of ['timm_vit_tiny.safetensors', 'hf_vit']) {
    it(`${fixtureName}: the detected architecture's logits are PyTorch's (make_checkpoints.py's forward pass from timm's and transformers' sources), on both engines`, async () => {
      const ck = await openFixture(fixtureName);
      try {
        const { architecture } = detectArchitecture({ tensors: ck.tensors, config: ck.config });
        const { x, y } = await expectedOutputs(fixtureName.replace('.safetensors', ''));
        expect(maxRelDiff(await basinLogits(ck, architecture, x), y.data)).toBeLessThan(2e-5);
        const graph = buildGraph(architecture, checkpointShapes(ck));
        const data: Dataset = { x: x.data, y: new Int32Array(x.shape[0]), n: x.shape[0], sampleShape: x.shape.slice(1), name: fixtureName, classes: 10 };
        const ort = await ortEngine({ threads: 1, memoryMB: 64 });
        expect(maxRelDiff(await ort.logits(graph, await loadState(ck, architecture), data), y.data)).toBeLessThan(2e-5);
      } finally {
        await ck.close();
      }
    });
  }
});

describe('what is not detected is a named error asking for architecture', () => {
  it('a plain nn.Sequential: its activations are not in the checkpoint', () => {
    expect(errorOf(() => detectArchitecture({ tensors: names({ '0.weight': [8, 4], '0.bias': [8], '2.weight': [3, 8], '2.bias': [3] }) }))).toMatch(/^architecture_not_detected: .*look like an nn\.Sequential stack.*give "architecture"/);
  });
  it('a Hugging Face class basin does not read', () => {
    expect(errorOf(() => detectArchitecture({ tensors: names({ 'x.weight': [1] }), config: { architectures: ['ConvNextForImageClassification'], model_type: 'convnext' } }))).toBe('unsupported_architecture: config.json describes ConvNextForImageClassification; basin reads ViTForImageClassification and ResNetForImageClassification configs; give "architecture" in the request if basin\'s layer kinds can express it');
  });
  it('a config.json of another class does not hide tensor names basin knows', async () => {
    const { input } = await detectFixture('torchvision_resnet18.pth');
    const d = detectArchitecture({ ...input, config: { model_type: 'my-resnet', architectures: ['MyResNet'] } }, { sampleShape: [3, 32, 32] });
    expect(d).toMatchObject({ family: 'torchvision / timm ResNet-18', notes: [expect.stringMatching(/^config\.json describes a class basin does not read/)] });
  });

  it('ResNet relatives without a template: deep stems, wide ResNets, non-standard depths', () => {
    const stem = { 'conv1.weight': [64, 3, 7, 7], 'fc.weight': [10, 512] };
    expect(errorOf(() => detectArchitecture({ tensors: names({ 'conv1.0.weight': [32, 3, 3, 3], 'layer1.0.conv1.weight': [64, 64, 3, 3] }) }))).toMatch(/^unsupported_architecture: .*deep stem/);
    const wide = { ...stem, 'layer1.0.conv1.weight': [128, 64, 1, 1], 'layer1.0.conv3.weight': [256, 128, 1, 1], ...Object.fromEntries([2, 3, 4].map((s) => [`layer${s}.0.conv1.weight`, [1, 1, 1, 1]])), 'layer1.1.conv1.weight': [1], 'layer1.2.conv1.weight': [1], 'layer2.1.conv1.weight': [1], 'layer2.2.conv1.weight': [1], 'layer2.3.conv1.weight': [1], 'layer3.1.conv1.weight': [1], 'layer3.2.conv1.weight': [1], 'layer3.3.conv1.weight': [1], 'layer3.4.conv1.weight': [1], 'layer3.5.conv1.weight': [1], 'layer4.1.conv1.weight': [1], 'layer4.2.conv1.weight': [1] };
    expect(errorOf(() => detectArchitecture({ tensors: names(wide) }))).toMatch(/^unsupported_architecture: a ResNet whose first block is 2x as wide as its stem/);
    const odd = { ...stem, ...Object.fromEntries([1, 2, 3, 4].map((s) => [`layer${s}.0.conv1.weight`, [64, 64, 3, 3]])) };
    expect(errorOf(() => detectArchitecture({ tensors: names(odd) }))).toMatch(/^unsupported_architecture: torchvision-style ResNet names with 1\/1\/1\/1 basic blocks per stage, not a standard depth/);
  });
  it('torchvision VGG at an input whose last map is not a multiple of 7', async () => {
    const { input } = await detectFixture('torchvision_vgg11_bn.pth');
    expect(errorOf(() => detectArchitecture(input, { sampleShape: [3, 32, 32] }))).toMatch(/^unsupported_architecture: torchvision's VGG resizes its last feature map to 7x7/);
  });
  it('a tfjs layer basin has no kind for', () => {
    const topology = { class_name: 'Sequential', config: { layers: [{ class_name: 'Dense', config: { name: 'd', units: 4, batch_input_shape: [null, 3], activation: 'sigmoid' } }] } };
    expect(errorOf(() => detectArchitecture({ tensors: names({ 'd/kernel': [3, 4], 'd/bias': [4] }), topology }))).toMatch(/^unsupported_architecture: layer "d" uses activation "sigmoid"; basin has relu and gelu/);
  });
});
