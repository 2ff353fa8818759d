import type { Architecture } from '../src/contracts/index.ts';

/** The example pairs: what `npm run examples:train` trains and `npm run bench:quality` merges. */
export const EXAMPLES: {
  name: string;
  dataset: 'mnist' | 'fashion-mnist';
  architecture: Architecture;
  epochs: number;
  batchSize: number;
  lr: number;
  trainLimit?: number;
  /** the alignment its request asks for (default weight matching) */
  alignment?: 'weight' | 'activation';
}[] = [
  { name: 'mnist-mlp3x512', dataset: 'mnist', architecture: { template: 'mlp', layout: 'pytorch', input: [1, 28, 28], widths: [512, 512, 512], classes: 10, norm: 'none' }, epochs: 2, batchSize: 128, lr: 1e-3 },
  { name: 'fashion-mlp6x128', dataset: 'fashion-mnist', architecture: { template: 'mlp', layout: 'pytorch', input: [1, 28, 28], widths: [128, 128, 128, 128, 128, 128], classes: 10, norm: 'none' }, epochs: 4, batchSize: 128, lr: 1e-3 },
  { name: 'fashion-vgg', dataset: 'fashion-mnist', architecture: { template: 'vgg', layout: 'pytorch', input: [1, 28, 28], config: [16, 'M', 32, 'M', 64, 'M'], classes: 10, norm: 'none' }, epochs: 1, batchSize: 128, lr: 2e-3 },
  { name: 'fashion-vit', dataset: 'fashion-mnist', architecture: { template: 'vit', input: [1, 28, 28], patch: 7, dim: 64, depth: 4, heads: 4, mlpHidden: 128, classes: 10, pool: 'token', eps: 1e-6, naming: 'timm' }, epochs: 2, batchSize: 64, lr: 1e-3, trainLimit: 24_000, alignment: 'activation' },
  { name: 'fashion-resnet-bn', dataset: 'fashion-mnist', architecture: { template: 'resnet20', layout: 'pytorch', input: [1, 28, 28], width: 0.5, blocks: 1, classes: 10, norm: 'bn' }, epochs: 1, batchSize: 128, lr: 3e-3, trainLimit: 20_000 },
];
