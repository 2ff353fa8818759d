import { MergeError } from '../errors.ts';

/**
 * A checkpoint that cannot be read as given: its format, its archive, its pickle or its tensors.
 * A MergeError, so every caller that reports engine errors by code reports these too.
 */
export class CheckpointError extends MergeError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'CheckpointError';
  }
}

/** The one-line conversion every unreadable-format message ends with. */
export const CONVERT_HINT = 'in Python: from safetensors.torch import save_file; save_file(model.state_dict(), "model.safetensors")';
