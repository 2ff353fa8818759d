/** A merge that cannot run as asked: a user-facing, machine-readable code and a one-line reason. */
export class MergeError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'MergeError';
  }
}
