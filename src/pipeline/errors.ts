/**
 * The engine's user-facing errors: a bad request, model, checkpoint or dataset, each with a
 * machine-readable `code` and a one-line reason. The CLI and the runner check this one class: an
 * EngineError is the user's to fix (exit 2, a failed job with its code); anything else is ours.
 */
export class EngineError<Code extends string = string> extends Error {
  constructor(readonly code: Code, message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A merge that cannot run as asked. */
export class MergeError extends EngineError {}

export type ModelErrorCode = 'bad_architecture' | 'missing_tensor' | 'shape_mismatch' | 'bad_graph' | 'unsupported';
/** A model-description problem found before any math; names the tensor and the layer. */
export class ModelError extends EngineError<ModelErrorCode> {}
