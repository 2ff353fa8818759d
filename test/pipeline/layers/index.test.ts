import { describe, it, expect } from 'vitest';
import { Layer } from '../../../src/contracts/index.ts';
import { kindOf } from '../../../src/pipeline/layers/index.ts';

describe('layer kind registry', () => {
  it('every layer type the schema accepts has its module, with an op, shape inference and a permutation role', () => {
    // each option's `type`: a literal, or an enum where one schema serves two types (maxpool, avgpool)
    const types = Layer.options.flatMap((o) => ('options' in o.shape.type ? o.shape.type.options : [...o.shape.type.values]) as string[]);
    expect(types.sort()).toEqual(['add', 'attention', 'avgpool', 'batchnorm', 'clstoken', 'conv2d', 'flatten', 'gelu', 'globalavgpool', 'identity', 'layernorm', 'linear', 'maxpool', 'patchembed', 'posembed', 'relu', 'tokenpool']);
    for (const type of types) {
      const kind = kindOf({ type } as Layer);
      expect([typeof kind.infer, typeof kind.op, typeof kind.permute], type).toEqual(['function', 'function', 'function']);
      expect(kind.arity, type).toBe(type === 'add' ? 'many' : 'one');
    }
  });
});
