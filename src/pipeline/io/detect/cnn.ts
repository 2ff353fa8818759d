/**
 * Conv nets recognised by their tensor names: torchvision's and timm's ResNets (the same names),
 * basin's own resnet20 and vgg templates, and torchvision's VGGs (with and without BatchNorm).
 * Activations are not stored in a checkpoint; these families fix them (ReLU), which is why plain
 * nn.Sequential stacks are not guessed.
 */
import { convInput, Names, notDetected, unsupportedArchitecture, type Detection, type DetectHints } from './types.ts';

const TORCHVISION_DEPTHS: { depth: number; blocks: number[]; bottleneck: boolean }[] = [
  { depth: 18, blocks: [2, 2, 2, 2], bottleneck: false },
  { depth: 34, blocks: [3, 4, 6, 3], bottleneck: false },
  { depth: 50, blocks: [3, 4, 6, 3], bottleneck: true },
  { depth: 101, blocks: [3, 4, 23, 3], bottleneck: true },
  { depth: 152, blocks: [3, 8, 36, 3], bottleneck: true },
];

export function detectResnet(t: Names, hints: DetectHints): Detection | undefined {
  if (!t.has('layer1.0.conv1.weight')) return undefined;
  if (t.has('conv1.0.weight')) throw unsupportedArchitecture('tensor names of a ResNet with a deep stem (conv1.0, conv1.1, ...: timm\'s ResNet-D and similar), which basin has no template for');
  const conv1 = t.shape('conv1.weight');
  if (!conv1 || conv1.length !== 4) return undefined;
  const blocks: number[] = [];
  for (let s = 1; t.has(`layer${s}.0.conv1.weight`); s++) blocks.push(t.indices(`layer${s}.`).length);
  const bottleneck = t.has('layer1.0.conv3.weight');
  const notes: string[] = [];
  const [width, channels, k] = conv1;
  if (t.has('fc.weight') && k === 7 && blocks.length === 4) {
    const match = TORCHVISION_DEPTHS.find((d) => d.bottleneck === bottleneck && d.blocks.every((b, i) => b === blocks[i]));
    if (!match) throw unsupportedArchitecture(`torchvision-style ResNet names with ${blocks.join('/')} ${bottleneck ? 'bottleneck' : 'basic'} blocks per stage, not a standard depth (18, 34, 50, 101, 152)`);
    const inner = t.shape('layer1.0.conv1.weight')![0];
    if (inner !== width) throw unsupportedArchitecture(`a ResNet whose first block is ${inner / width}x as wide as its stem (a wide ResNet or ResNeXt), which basin has no template for`);
    const input = convInput(channels, hints, [channels, 224, 224], notes);
    const classes = t.shape('fc.weight')![0];
    return {
      architecture: { template: `resnet${match.depth}`, input, classes, ...(width !== 64 ? { width } : {}) },
      source: 'tensor names', family: `torchvision / timm ResNet-${match.depth}`, notes,
    };
  }
  if (t.has('linear.weight') && k === 3 && blocks.length === 3 && blocks.every((b) => b === blocks[0]) && !bottleneck) {
    const norm = t.has('bn1.running_mean') ? 'bn' : t.has('bn1.weight') ? 'ln' : 'none';
    const input = convInput(channels, hints, [channels, 32, 32], notes);
    return {
      architecture: { template: 'resnet20', input, width: width / 16, blocks: blocks[0], classes: t.shape('linear.weight')![0], norm },
      source: 'tensor names', family: `basin resnet20 template (${blocks[0]} blocks per stage, width ${width / 16})`, notes,
    };
  }
  throw unsupportedArchitecture(`ResNet-like tensor names (conv1, layer1.0.conv1, ...) with a ${k}x${k} stem, ${blocks.length} stages and ${t.has('fc.weight') ? 'fc' : t.has('linear.weight') ? 'linear' : 'no known'} classifier: neither torchvision's / timm's ResNets nor basin's resnet20`);
}

interface Features { config: (number | 'M')[]; convs: number[]; norm: 'bn' | 'ln' | 'none'; lastIndex: number }

/** The conv stack of `features.N` names: channels, where the 2x2 max-pools sit, and the norm kind. */
function vggFeatures(t: Names): Features | undefined {
  const convs = t.indices('features.').filter((i) => t.shape(`features.${i}.weight`)?.length === 4);
  if (!convs.length) return undefined;
  const normAt = (i: number) => t.shape(`features.${i + 1}.weight`)?.length === 1;
  const norms = convs.map(normAt);
  if (norms.some((n) => n !== norms[0])) throw unsupportedArchitecture('features.* convs where only some are followed by a norm layer');
  const norm = !norms[0] ? 'none' : t.has(`features.${convs[0] + 1}.running_mean`) ? 'bn' : 'ln';
  const config: (number | 'M')[] = [];
  convs.forEach((i, n) => {
    const w = t.shape(`features.${i}.weight`)!;
    if (w[2] !== 3 || w[3] !== 3) throw unsupportedArchitecture(`features.${i} is a ${w[2]}x${w[3]} conv; VGGs use 3x3 convs`);
    config.push(w[0]);
    const next = convs[n + 1];
    if (next === undefined) return;
    const afterRelu = i + (norms[0] ? 3 : 2);
    if (next === afterRelu + 1) config.push('M');
    else if (next !== afterRelu) throw unsupportedArchitecture(`features.${i} and features.${next} have modules between them that a VGG does not (conv, ${norms[0] ? 'norm, ' : ''}relu[, maxpool])`);
  });
  return { config, convs, norm, lastIndex: convs[convs.length - 1] };
}

const pooled = (size: number, pools: number) => { let s = size; for (let p = 0; p < pools; p++) s = Math.floor(s / 2); return s; };

export function detectVgg(t: Names, hints: DetectHints): Detection | undefined {
  const f = vggFeatures(t);
  if (!f) return undefined;
  const first = t.shape(`features.${f.convs[0]}.weight`)!;
  const last = t.shape(`features.${f.lastIndex}.weight`)![0];
  const notes: string[] = [];
  const single = t.shape('classifier.weight');
  if (single) {
    // basin's vgg template: flatten straight into one linear, whose in-features fix the input size
    // (from the data, else the first of 28, 32, 224 that fits) and whether the stack ends in a pool
    const pools = f.config.filter((c) => c === 'M').length;
    const s = hints.sampleShape;
    const inputs = s?.length === 3 && s[0] === first[1] ? [[...s]] : [28, 32, 224].map((n) => [first[1], n, n]);
    for (const input of inputs) {
      const flat = (p: number) => last * pooled(input[1], p) * pooled(input[2], p);
      const config = flat(pools + 1) === single[1] ? [...f.config, 'M'] : flat(pools) === single[1] ? f.config : undefined;
      if (!config) continue;
      if (inputs.length > 1) notes.push(`input [${input.join(', ')}]: the size at which classifier.weight's ${single[1]} inputs fit (set "input" if the model saw another)`);
      return { architecture: { template: 'vgg', input, config, classes: single[0], norm: f.norm }, source: 'tensor names', family: 'basin vgg template', notes };
    }
    throw notDetected(`basin vgg names, but classifier.weight takes ${single[1]} features, which no pooling of a ${inputs.map((i) => `[${i.join(', ')}]`).join(' or ')} input gives`);
  }
  const heads = t.indices('classifier.').filter((i) => t.shape(`classifier.${i}.weight`)?.length === 2);
  if (!heads.length) throw notDetected('VGG-like features.* convs but no classifier (classifier.weight or classifier.N.weight)');
  // torchvision: every cfg ends in a pool, then AdaptiveAvgPool2d((7, 7)), then classifier.0/3/6
  const input = convInput(first[1], hints, [first[1], 224, 224], notes);
  const pools = f.config.filter((c) => c === 'M').length + 1;
  const [h, w] = [pooled(input[1], pools), pooled(input[2], pools)];
  if (t.shape(`classifier.${heads[0]}.weight`)![1] !== last * 49) throw notDetected(`torchvision VGG names, but classifier.${heads[0]} takes ${t.shape(`classifier.${heads[0]}.weight`)![1]} features, not ${last} x 7 x 7`);
  if (h % 7 || w % 7 || h !== w) throw unsupportedArchitecture(`torchvision's VGG resizes its last feature map to 7x7 (AdaptiveAvgPool2d); at input [${input.join(', ')}] that map is ${h}x${w}, and basin expresses the resize only for square maps that are a multiple of 7 (inputs 224, 448, ...)`);
  const layers: Record<string, unknown>[] = [];
  const convs = [...f.convs];
  for (const entry of [...f.config, 'M']) {
    if (entry === 'M') { layers.push({ type: 'maxpool', kernel: 2, stride: 2 }); continue; }
    const i = convs.shift()!;
    layers.push({ type: 'conv2d', name: `features.${i}`, padding: 1 });
    if (f.norm !== 'none') layers.push({ type: f.norm === 'bn' ? 'batchnorm' : 'layernorm', name: `features.${i + 1}` });
    layers.push({ type: 'relu' });
  }
  if (h > 7) layers.push({ type: 'avgpool', kernel: h / 7, stride: h / 7 });
  layers.push({ type: 'flatten' });
  heads.forEach((k, n) => {
    layers.push({ type: 'linear', name: `classifier.${k}` });
    if (n < heads.length - 1) layers.push({ type: 'relu' });
  });
  const cfg = [...f.config, 'M'];
  return {
    architecture: { layout: 'pytorch', input, layers },
    source: 'tensor names', family: `torchvision VGG${f.norm === 'bn' ? ' with BatchNorm' : ''} (features ${cfg.join(' ')})`, notes,
  };
}
