import type { Layer, LayerType } from '../../contracts/index.ts';
import { gelu, relu } from './activation.ts';
import { add } from './add.ts';
import { attention } from './attention.ts';
import { batchnorm } from './batchnorm.ts';
import { clstoken } from './clstoken.ts';
import { conv2d } from './conv2d.ts';
import { flatten } from './flatten.ts';
import { globalavgpool } from './globalavgpool.ts';
import { identity } from './identity.ts';
import type { LayerKind, LayerOf } from './kind.ts';
import { layernorm } from './layernorm.ts';
import { linear } from './linear.ts';
import { patchembed } from './patchembed.ts';
import { pool } from './pool.ts';
import { posembed } from './posembed.ts';
import { tokenpool } from './tokenpool.ts';

/**
 * The registry: every layer `type` of the architecture schema and the module that implements it.
 * Typed by the schema's union, so a schema without a module (or the reverse) does not compile.
 */
const KINDS: { [T in LayerType]: LayerKind<LayerOf<T>> } = {
  linear, conv2d, batchnorm, layernorm, relu, gelu, identity, flatten, globalavgpool, maxpool: pool, avgpool: pool, add,
  patchembed, clstoken, posembed, attention, tokenpool,
};

export function kindOf(layer: Layer): LayerKind {
  return KINDS[layer.type] as LayerKind;
}
