/**
 * config.json next to the weights. A Hugging Face config names its class (`architectures`,
 * `model_type`); basin reads ViTForImageClassification and ResNetForImageClassification and refuses
 * the rest by name. A timm config (`architecture`: the timm model name) gives what the weights do not
 * say: the head count of a ViT, its input size and pooling.
 */
import { detectHfVit, type VitHints } from './vit.ts';
import { convInput, Names, notDetected, unsupportedArchitecture, type Detection, type DetectHints } from './types.ts';

const SUPPORTED = 'ViTForImageClassification and ResNetForImageClassification';
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const numList = (v: unknown): number[] | undefined => (Array.isArray(v) && v.every((x) => typeof x === 'number') ? v : undefined);

export const isHfConfig = (c: Record<string, unknown>) => typeof c.model_type === 'string' || Array.isArray(c.architectures);
export const isTimmConfig = (c: Record<string, unknown>) => typeof c.architecture === 'string' && !isHfConfig(c);

/** The size words in timm's ViT names and their head counts. */
const TIMM_VIT_HEADS: Record<string, number> = { tiny: 3, small: 6, medium: 8, base: 12, large: 16, huge: 16, giant: 16 };

export function timmHints(c: Record<string, unknown>): VitHints {
  const name = String(c.architecture);
  const pre = (c.pretrained_cfg ?? {}) as Record<string, unknown>;
  const size = /^vit_([a-z]+)_/.exec(name)?.[1];
  const input = numList(pre.input_size) ?? numList(c.input_size);
  return {
    family: `timm ${name}`,
    heads: num(c.num_heads) ?? (size ? TIMM_VIT_HEADS[size] : undefined),
    input: input?.length === 3 ? input : undefined,
    pool: c.global_pool === 'avg' || c.global_pool === 'token' ? c.global_pool : undefined,
  };
}

/** HF ResNetForImageClassification as a layer graph with its own names (embedder, encoder.stages, classifier.1). */
function hfResnet(c: Record<string, unknown>, t: Names, hints: DetectHints): Detection {
  const depths = numList(c.depths) ?? [3, 4, 6, 3];
  const sizes = numList(c.hidden_sizes) ?? [256, 512, 1024, 2048];
  const bottleneck = (c.layer_type ?? 'bottleneck') === 'bottleneck';
  if ((c.hidden_act ?? 'relu') !== 'relu') throw unsupportedArchitecture(`a Hugging Face ResNet with hidden_act "${c.hidden_act}"; basin's ResNets use relu`);
  const root = t.has('resnet.embedder.embedder.convolution.weight') ? 'resnet.' : '';
  if (!t.has(`${root}embedder.embedder.convolution.weight`)) throw notDetected('config.json says ResNetForImageClassification, but the weights have no embedder.embedder.convolution');
  const notes: string[] = [];
  const channels = num(c.num_channels) ?? 3;
  const input = convInput(channels, hints, [channels, 224, 224], notes);
  const conv = (name: string, kernel: number, stride: number, extra: Record<string, unknown> = {}): Record<string, unknown>[] => [
    { type: 'conv2d', name: `${name}.convolution`, kernel, stride, padding: Math.floor(kernel / 2), bias: false, ...extra },
    { type: 'batchnorm', name: `${name}.normalization` },
  ];
  const layers: Record<string, unknown>[] = [
    ...conv(`${root}embedder.embedder`, 7, 2),
    { type: 'relu' },
    { type: 'maxpool', kernel: 3, stride: 2, padding: 1, id: 'stem' },
  ];
  let prev = 'stem';
  let inC = num(c.embedding_size) ?? 64;
  depths.forEach((depth, s) => {
    const out = sizes[s];
    for (let l = 0; l < depth; l++) {
      const stride = l > 0 ? 1 : s > 0 || c.downsample_in_first_stage ? 2 : 1;
      const p = `${root}encoder.stages.${s}.layers.${l}`;
      const main: Record<string, unknown>[] = bottleneck
        ? [
          ...conv(`${p}.layer.0`, 1, c.downsample_in_bottleneck ? stride : 1, { inputs: [prev] }), { type: 'relu' },
          ...conv(`${p}.layer.1`, 3, c.downsample_in_bottleneck ? 1 : stride), { type: 'relu' },
          ...conv(`${p}.layer.2`, 1, 1),
        ]
        : [...conv(`${p}.layer.0`, 3, stride, { inputs: [prev] }), { type: 'relu' }, ...conv(`${p}.layer.1`, 3, 1)];
      main[main.length - 1].id = `${p}.main`;
      layers.push(...main);
      let skip = prev;
      if (inC !== out || stride !== 1) {
        const sc = conv(`${p}.shortcut`, 1, stride, { inputs: [prev] });
        sc[1].id = skip = `${p}.skip`;
        layers.push(...sc);
      }
      layers.push({ type: 'add', id: `${p}.add`, inputs: [`${p}.main`, skip] }, { type: 'relu', id: `${p}.out` });
      prev = `${p}.out`;
      inC = out;
    }
  });
  layers.push({ type: 'globalavgpool' }, { type: 'linear', name: 'classifier.1' });
  return { architecture: { layout: 'pytorch', input, layers }, source: 'config.json', family: `Hugging Face ResNetForImageClassification (${bottleneck ? 'bottleneck' : 'basic'} blocks ${depths.join('/')})`, notes };
}

export function detectFromHfConfig(c: Record<string, unknown>, t: Names, hints: DetectHints): Detection {
  const classes = Array.isArray(c.architectures) ? c.architectures.map(String) : [];
  const type = String(c.model_type ?? '');
  if (classes.includes('ViTForImageClassification') || (type === 'vit' && !classes.length)) {
    const size = num(c.image_size);
    const channels = num(c.num_channels) ?? 3;
    const d = detectHfVit(t, {
      heads: num(c.num_attention_heads), eps: num(c.layer_norm_eps),
      input: size ? [channels, size, size] : undefined,
    });
    if (!d) throw notDetected('config.json says ViTForImageClassification, but the tensor names are not Hugging Face ViT names (vit.embeddings.*, vit.encoder.layer.N.*)');
    return { ...d, source: 'config.json' };
  }
  if (classes.includes('ResNetForImageClassification') || (type === 'resnet' && !classes.length)) return hfResnet(c, t, hints);
  throw unsupportedArchitecture(`config.json describes ${classes.join(', ') || `model_type "${type}"`}; basin reads ${SUPPORTED} configs`);
}
