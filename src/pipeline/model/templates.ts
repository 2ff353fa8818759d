import type { GraphArchitecture, Layer, TemplateArchitecture } from '../../contracts/index.ts';

/**
 * Templates expand to the plain layer graph (DESIGN 4.1). Names follow what the equivalent PyTorch
 * module saves, so a state_dict of the matching nn.Module loads without renaming.
 */
type Norm = 'none' | 'bn' | 'ln';
type LayerIn = Layer | Record<string, unknown>;

function normLayer(norm: Norm, name: string): LayerIn[] {
  if (norm === 'bn') return [{ type: 'batchnorm', name }];
  if (norm === 'ln') return [{ type: 'layernorm', name }];
  return [];
}

/** mlp: nn.Sequential(Flatten, Linear, [Norm], ReLU, ..., Linear) saved as layers.{index}. */
function mlp(t: Extract<TemplateArchitecture, { template: 'mlp' }>): LayerIn[] {
  const layers: LayerIn[] = [{ type: 'flatten' }];
  let index = 1;
  for (const width of t.widths) {
    layers.push({ type: 'linear', name: `layers.${index++}`, out: width });
    for (const l of normLayer(t.norm, `layers.${index}`)) { layers.push(l); index++; }
    layers.push({ type: 'relu' }); index++;
  }
  layers.push({ type: 'linear', name: `layers.${index}`, out: t.classes });
  return layers;
}

/** vgg: torchvision-style `features.{i}` (conv3x3 pad 1, [norm], relu, 'M' = maxpool 2) then flatten and `classifier`. */
function vgg(t: Extract<TemplateArchitecture, { template: 'vgg' }>): LayerIn[] {
  const layers: LayerIn[] = [];
  let i = 0;
  for (const c of t.config) {
    if (c === 'M') { layers.push({ type: 'maxpool', kernel: 2, stride: 2 }); i++; continue; }
    layers.push({ type: 'conv2d', name: `features.${i++}`, padding: 1, kernel: 3, out: c });
    for (const l of normLayer(t.norm, `features.${i}`)) { layers.push(l); i++; }
    layers.push({ type: 'relu' }); i++;
  }
  layers.push({ type: 'flatten' }, { type: 'linear', name: 'classifier', out: t.classes });
  return layers;
}

/** The basic residual block of ResNet-20/18: conv-norm-relu-conv-norm, plus a projected or identity shortcut. */
function basicBlock(prefix: string, input: string, channels: number, stride: number, project: boolean, norm: Norm, shortcutName: string): LayerIn[] {
  const bias = norm !== 'bn';
  const out: LayerIn[] = [
    { type: 'conv2d', name: `${prefix}.conv1`, stride, padding: 1, kernel: 3, out: channels, bias, inputs: [input] },
    ...normLayer(norm, `${prefix}.bn1`),
    { type: 'relu' },
    { type: 'conv2d', name: `${prefix}.conv2`, padding: 1, kernel: 3, out: channels, bias },
    ...normLayer(norm, `${prefix}.bn2`),
  ];
  const mainId = `${prefix}.main`;
  (out[out.length - 1] as Record<string, unknown>).id = mainId;
  let skip = input;
  if (project) {
    out.push({ type: 'conv2d', name: `${prefix}.${shortcutName}.0`, stride, padding: 0, kernel: 1, out: channels, bias, inputs: [input] });
    if (norm !== 'none') out.push(...normLayer(norm, `${prefix}.${shortcutName}.1`));
    skip = `${prefix}.skip`;
    (out[out.length - 1] as Record<string, unknown>).id = skip;
  }
  out.push({ type: 'add', id: `${prefix}.add`, inputs: [mainId, skip] }, { type: 'relu', id: `${prefix}.out` });
  return out;
}

/** resnet20 (He et al. CIFAR ResNet, width multiplier, projection shortcuts). */
function resnet20(t: Extract<TemplateArchitecture, { template: 'resnet20' }>): LayerIn[] {
  const w = (c: number) => Math.max(1, Math.round(c * t.width));
  const layers: LayerIn[] = [
    { type: 'conv2d', name: 'conv1', padding: 1, kernel: 3, out: w(16), bias: t.norm !== 'bn' },
    ...normLayer(t.norm, 'bn1'),
    { type: 'relu', id: 'stem' },
  ];
  let prev = 'stem';
  let inC = w(16);
  [16, 32, 64].forEach((c, stage) => {
    for (let b = 0; b < t.blocks; b++) {
      const stride = stage > 0 && b === 0 ? 2 : 1;
      const project = stride !== 1 || inC !== w(c);
      const prefix = `layer${stage + 1}.${b}`;
      layers.push(...basicBlock(prefix, prev, w(c), stride, project, t.norm, 'shortcut'));
      prev = `${prefix}.out`;
      inC = w(c);
    }
  });
  layers.push({ type: 'globalavgpool' }, { type: 'linear', name: 'linear', out: t.classes });
  return layers;
}

/** torchvision's bottleneck block (ResNet-50 and deeper; stride on the 3x3 conv, V1.5): 1x1, 3x3, 1x1 (4x wide). */
function bottleneckBlock(prefix: string, input: string, width: number, stride: number, project: boolean): LayerIn[] {
  const out: LayerIn[] = [
    { type: 'conv2d', name: `${prefix}.conv1`, padding: 0, kernel: 1, out: width, bias: false, inputs: [input] },
    { type: 'batchnorm', name: `${prefix}.bn1` },
    { type: 'relu' },
    { type: 'conv2d', name: `${prefix}.conv2`, stride, padding: 1, kernel: 3, out: width, bias: false },
    { type: 'batchnorm', name: `${prefix}.bn2` },
    { type: 'relu' },
    { type: 'conv2d', name: `${prefix}.conv3`, padding: 0, kernel: 1, out: 4 * width, bias: false },
    { type: 'batchnorm', name: `${prefix}.bn3`, id: `${prefix}.main` },
  ];
  let skip = input;
  if (project) {
    out.push(
      { type: 'conv2d', name: `${prefix}.downsample.0`, stride, padding: 0, kernel: 1, out: 4 * width, bias: false, inputs: [input] },
      { type: 'batchnorm', name: `${prefix}.downsample.1`, id: `${prefix}.skip` },
    );
    skip = `${prefix}.skip`;
  }
  out.push({ type: 'add', id: `${prefix}.add`, inputs: [`${prefix}.main`, skip] }, { type: 'relu', id: `${prefix}.out` });
  return out;
}

type TorchvisionResnet = Extract<TemplateArchitecture, { template: 'resnet18' | 'resnet34' | 'resnet50' | 'resnet101' | 'resnet152' }>;
const RESNET_BLOCKS: Record<TorchvisionResnet['template'], { blocks: number[]; bottleneck: boolean }> = {
  resnet18: { blocks: [2, 2, 2, 2], bottleneck: false },
  resnet34: { blocks: [3, 4, 6, 3], bottleneck: false },
  resnet50: { blocks: [3, 4, 6, 3], bottleneck: true },
  resnet101: { blocks: [3, 4, 23, 3], bottleneck: true },
  resnet152: { blocks: [3, 8, 36, 3], bottleneck: true },
};

/** torchvision's ResNets with its names (conv1, bn1, layerN.M.convK/bnK, downsample.0/1, fc). */
function torchvisionResnet(t: TorchvisionResnet): LayerIn[] {
  const { blocks, bottleneck } = RESNET_BLOCKS[t.template];
  const layers: LayerIn[] = [
    { type: 'conv2d', name: 'conv1', stride: 2, padding: 3, kernel: 7, out: t.width, bias: false },
    { type: 'batchnorm', name: 'bn1' },
    { type: 'relu' },
    { type: 'maxpool', kernel: 3, stride: 2, padding: 1, id: 'stem' },
  ];
  let prev = 'stem';
  let inC = t.width;
  blocks.forEach((count, stage) => {
    const c = t.width * 2 ** stage;
    for (let b = 0; b < count; b++) {
      const stride = stage > 0 && b === 0 ? 2 : 1;
      const prefix = `layer${stage + 1}.${b}`;
      const outC = bottleneck ? 4 * c : c;
      const project = stride !== 1 || inC !== outC;
      layers.push(...(bottleneck ? bottleneckBlock(prefix, prev, c, stride, project) : basicBlock(prefix, prev, c, stride, project, 'bn', 'downsample')));
      prev = `${prefix}.out`;
      inC = outC;
    }
  });
  layers.push({ type: 'globalavgpool' }, { type: 'linear', name: 'fc', out: t.classes });
  return layers;
}

type Vit = Extract<TemplateArchitecture, { template: 'vit' }>;

/** Where a ViT's tensors are, by naming scheme (timm VisionTransformer, transformers ViTForImageClassification). */
const VIT_NAMES = {
  timm: {
    patch: 'patch_embed.proj', cls: 'cls_token', pos: 'pos_embed', head: 'head', norm: 'norm', fcNorm: 'fc_norm',
    block: (i: number) => ({
      norm1: `blocks.${i}.norm1`, attn: `blocks.${i}.attn`, norm2: `blocks.${i}.norm2`, fc1: `blocks.${i}.mlp.fc1`, fc2: `blocks.${i}.mlp.fc2`,
    }),
    qkv: 'fused' as const,
  },
  hf: {
    patch: 'vit.embeddings.patch_embeddings.projection', cls: 'vit.embeddings.cls_token', pos: 'vit.embeddings.position_embeddings',
    head: 'classifier', norm: 'vit.layernorm', fcNorm: undefined,
    block: (i: number) => {
      const l = `vit.encoder.layer.${i}`;
      return { norm1: `${l}.layernorm_before`, attn: `${l}.attention`, norm2: `${l}.layernorm_after`, fc1: `${l}.intermediate.dense`, fc2: `${l}.output.dense` };
    },
    qkv: 'separate' as const,
  },
};

/**
 * vit: patch embedding, class token, position embedding, `depth` pre-LN blocks (x + attn(norm1(x)),
 * then x + fc2(gelu(fc1(norm2(x))))), the final norm, pooling and the head. timm puts the final norm
 * after average pooling (`fc_norm`) and drops `norm`; with a checkpoint the expansion follows what
 * it holds (a class token or none; `fc_norm` or `norm`), without one it follows timm's defaults.
 */
function vit(t: Vit, has?: (tensor: string) => boolean): LayerIn[] {
  const names = VIT_NAMES[t.naming];
  const classToken = has ? has(names.cls) : true;
  const fcNorm = names.fcNorm !== undefined && t.pool === 'avg' && (has ? has(`${names.fcNorm}.weight`) || !has(`${names.norm}.weight`) : true);
  const layers: LayerIn[] = [{ type: 'patchembed', name: names.patch, patch: t.patch, out: t.dim }];
  if (classToken) layers.push({ type: 'clstoken', name: names.cls });
  layers.push({ type: 'posembed', name: names.pos });
  let stream = names.pos;
  for (let i = 0; i < t.depth; i++) {
    const b = names.block(i);
    layers.push(
      { type: 'layernorm', name: b.norm1, eps: t.eps, inputs: [stream] },
      { type: 'attention', name: b.attn, heads: t.heads, qkv: names.qkv },
      { type: 'add', id: `${b.attn}.residual`, inputs: [b.attn, stream] },
      { type: 'layernorm', name: b.norm2, eps: t.eps },
      { type: 'linear', name: b.fc1, out: t.mlpHidden ?? 4 * t.dim },
      { type: 'gelu' },
      { type: 'linear', name: b.fc2, out: t.dim },
      { type: 'add', id: `${b.fc2}.residual`, inputs: [b.fc2, `${b.attn}.residual`] },
    );
    stream = `${b.fc2}.residual`;
  }
  const pool = { type: 'tokenpool', pool: t.pool, skip: t.pool === 'avg' && classToken ? 1 : 0 };
  if (fcNorm) layers.push(pool, { type: 'layernorm', name: names.fcNorm, eps: t.eps });
  else layers.push({ type: 'layernorm', name: names.norm, eps: t.eps }, pool);
  layers.push({ type: 'linear', name: names.head, out: t.classes });
  return layers;
}

/**
 * The layer-graph form of any architecture (graphs pass through). Not yet validated against a
 * checkpoint; `has` (whether the checkpoint holds a tensor) lets a template follow the checkpoint
 * where its source's options change which tensors exist.
 */
export function expandTemplate(arch: TemplateArchitecture | GraphArchitecture, has?: (tensor: string) => boolean): { layout: GraphArchitecture['layout']; input: number[]; layers: LayerIn[]; output?: string } {
  if (!('template' in arch)) return arch;
  switch (arch.template) {
    case 'vit': return { layout: 'pytorch', input: arch.input, layers: vit(arch, has) };
    case 'mlp': return { layout: arch.layout, input: arch.input, layers: mlp(arch) };
    case 'vgg': return { layout: arch.layout, input: arch.input, layers: vgg(arch) };
    case 'resnet20': return { layout: arch.layout, input: arch.input, layers: resnet20(arch) };
    case 'resnet18': case 'resnet34': case 'resnet50': case 'resnet101': case 'resnet152':
      return { layout: arch.layout, input: arch.input, layers: torchvisionResnet(arch) };
  }
}

