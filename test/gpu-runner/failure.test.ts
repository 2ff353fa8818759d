import { describe, it, expect } from 'vitest';
import { jobError, JobFailure } from '../../src/gpu-runner/failure.ts';
import { EngineError, MergeError, ModelError } from '../../src/pipeline/errors.ts';
import { DatasetError } from '../../src/pipeline/io/datasets.ts';
import { SafetensorsError } from '../../src/pipeline/io/safetensors.ts';

describe('jobError', () => {
  it('keeps the code of every engine error (one base class, so kinds added later are covered), anything else is internal_error', () => {
    class FutureError extends EngineError {}
    const userFacing = [new JobFailure('bad_request', 'j'), new MergeError('too_few_models', 'm'), new ModelError('bad_graph', 'g'), new SafetensorsError('truncated', 's'), new DatasetError('bad_dataset', 'd'), new FutureError('new_code', 'f')];
    for (const e of userFacing) expect(jobError(e)).toEqual({ code: e.code, message: e.message });
    expect(jobError(new RangeError('oops'))).toEqual({ code: 'internal_error', message: 'RangeError: oops' });
  });
});
