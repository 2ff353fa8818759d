import { z } from 'zod';
import { Layer } from './layers/index.ts';

export const Layout = z.enum(['pytorch', 'tfjs']);
export type Layout = z.infer<typeof Layout>;
const InputShape = z.array(z.number().int().min(1).max(4096)).min(1).max(3);
const Norm = z.enum(['none', 'bn', 'ln']);
const Classes = z.number().int().min(2).max(100_000).default(10);

export const GraphArchitecture = z.strictObject({
  layout: Layout.default('pytorch'),
  input: InputShape,
  layers: z.array(Layer).min(1).max(4096),
  /** id of the logits layer; default the last layer */
  output: z.string().optional(),
});

export const MlpTemplate = z.strictObject({
  template: z.literal('mlp'),
  layout: Layout.default('pytorch'),
  input: InputShape,
  widths: z.array(z.number().int().min(1).max(65_536)).min(1).max(64),
  classes: Classes,
  norm: Norm.default('none'),
});
export const VggTemplate = z.strictObject({
  template: z.literal('vgg'),
  layout: Layout.default('pytorch'),
  input: InputShape,
  /** channel counts and 'M' for a 2x2 max-pool, as torchvision's cfgs */
  config: z.array(z.union([z.number().int().min(1).max(8192), z.literal('M')])).min(1).max(64),
  classes: Classes,
  norm: Norm.default('none'),
});
export const Resnet20Template = z.strictObject({
  template: z.literal('resnet20'),
  layout: Layout.default('pytorch'),
  input: InputShape,
  width: z.number().positive().max(64).default(1),
  /** blocks per stage: 3 is ResNet-20; smaller values give the same family at lower cost */
  blocks: z.number().int().min(1).max(18).default(3),
  classes: Classes,
  norm: Norm.default('bn'),
});
/** torchvision's ResNets (names conv1, bn1, layerN.M.*, downsample.0/1, fc; timm's plain ResNets save the same). */
const torchvisionResnet = <T extends string>(template: T) => z.strictObject({
  template: z.literal(template),
  layout: Layout.default('pytorch'),
  input: InputShape.default([3, 224, 224]),
  classes: Classes.default(1000),
  /** channels of the stem and the first stage (64 in torchvision; each stage doubles them) */
  width: z.number().int().min(1).max(1024).default(64),
});
export const Resnet18Template = torchvisionResnet('resnet18');
export const Resnet34Template = torchvisionResnet('resnet34');
export const Resnet50Template = torchvisionResnet('resnet50');
export const Resnet101Template = torchvisionResnet('resnet101');
export const Resnet152Template = torchvisionResnet('resnet152');

/**
 * A Vision Transformer (pre-LN blocks, fused or separate q/k/v) with timm VisionTransformer's tensor
 * names or Hugging Face ViTForImageClassification's. `mlpHidden` defaults to 4 x dim (timm's
 * mlp_ratio). With a checkpoint, the expansion follows it where timm's options change names:
 * no `cls_token`, and `fc_norm` after average pooling instead of `norm` before it.
 */
export const VitTemplate = z.strictObject({
  template: z.literal('vit'),
  input: z.array(z.number().int().min(1).max(4096)).length(3),
  patch: z.number().int().min(1).max(256),
  dim: z.number().int().min(1).max(65_536),
  depth: z.number().int().min(1).max(256),
  heads: z.number().int().min(1).max(1024),
  mlpHidden: z.number().int().min(1).max(262_144).optional(),
  classes: Classes,
  pool: z.enum(['token', 'avg']).default('token'),
  eps: z.number().positive().max(1).default(1e-6),
  naming: z.enum(['timm', 'hf']).default('timm'),
});

export const Architecture = z.union([
  GraphArchitecture,
  z.discriminatedUnion('template', [MlpTemplate, VggTemplate, Resnet20Template, Resnet18Template, Resnet34Template, Resnet50Template, Resnet101Template, Resnet152Template, VitTemplate]),
]);
export type Architecture = z.infer<typeof Architecture>;
export type GraphArchitecture = z.infer<typeof GraphArchitecture>;
export type TemplateArchitecture = Exclude<Architecture, GraphArchitecture>;
