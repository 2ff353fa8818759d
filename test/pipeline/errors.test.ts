import { describe, it, expect } from 'vitest';
import { EngineError, MergeError, ModelError } from '../../src/pipeline/errors.ts';
import { DatasetError } from '../../src/pipeline/io/datasets.ts';
import { SafetensorsError } from '../../src/pipeline/io/safetensors.ts';

describe('engine errors', () => {
  const errors = [new MergeError('too_few_models', 'm'), new ModelError('bad_graph', 'g'), new SafetensorsError('truncated', 's'), new DatasetError('bad_dataset', 'd')];

  it('share one base class with a machine-readable code, and keep their own names', () => {
    expect(errors.map((e) => [e instanceof EngineError, e instanceof Error, e.name, e.code])).toEqual([
      [true, true, 'MergeError', 'too_few_models'],
      [true, true, 'ModelError', 'bad_graph'],
      [true, true, 'SafetensorsError', 'truncated'],
      [true, true, 'DatasetError', 'bad_dataset'],
    ]);
  });
});
