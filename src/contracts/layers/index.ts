import { z } from 'zod';
import { GeluLayer, ReluLayer } from './activation.ts';
import { AddLayer } from './add.ts';
import { AttentionLayer } from './attention.ts';
import { BatchNormLayer } from './batchnorm.ts';
import { ClsTokenLayer } from './clstoken.ts';
import { Conv2dLayer } from './conv2d.ts';
import { FlattenLayer } from './flatten.ts';
import { GlobalAvgPoolLayer } from './globalavgpool.ts';
import { IdentityLayer } from './identity.ts';
import { LayerNormLayer } from './layernorm.ts';
import { LinearLayer } from './linear.ts';
import { PatchEmbedLayer } from './patchembed.ts';
import { PoolLayer } from './pool.ts';
import { PosEmbedLayer } from './posembed.ts';
import { TokenPoolLayer } from './tokenpool.ts';

export * from './activation.ts';
export * from './add.ts';
export * from './attention.ts';
export * from './batchnorm.ts';
export * from './clstoken.ts';
export * from './conv2d.ts';
export * from './flatten.ts';
export * from './globalavgpool.ts';
export * from './identity.ts';
export * from './layernorm.ts';
export * from './linear.ts';
export * from './patchembed.ts';
export * from './pool.ts';
export * from './posembed.ts';
export * from './tokenpool.ts';

/**
 * Every layer kind's schema, one file each (pure zod, so the edge validates architectures without
 * the engine). A new kind adds its file here and its engine module to src/pipeline/layers/index.ts.
 */
export const Layer = z.discriminatedUnion('type', [
  LinearLayer, Conv2dLayer, BatchNormLayer, LayerNormLayer, ReluLayer, GeluLayer, IdentityLayer, FlattenLayer, GlobalAvgPoolLayer, PoolLayer, AddLayer,
  PatchEmbedLayer, ClsTokenLayer, PosEmbedLayer, AttentionLayer, TokenPoolLayer,
]);
export type Layer = z.infer<typeof Layer>;
export type LayerType = Layer['type'];
