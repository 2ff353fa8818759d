import { EngineError } from '../errors.ts';

/**
 * A checkpoint that cannot be read as given: its format, its archive, its pickle or its tensors, or
 * an architecture that cannot be read from it. An EngineError, so the CLI and the runner report it
 * by code like every other engine error.
 */
export class CheckpointError extends EngineError {}

/** The one-line conversion every unreadable-format message ends with. */
export const CONVERT_HINT = 'in Python: from safetensors.torch import save_file; save_file(model.state_dict(), "model.safetensors")';
