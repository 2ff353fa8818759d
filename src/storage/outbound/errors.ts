/**
 * Why an outbound request to a caller-supplied URL did not happen or did not finish. Messages are
 * this module's own fixed sentences: never bytes the remote sent, never an address a name resolved
 * to, never a low-level network message (those stay in `cause`, for the operator's logs).
 */
export type OutboundFailure = 'refused' | 'unreachable' | 'too_large';

export class OutboundError extends Error {
  constructor(
    readonly kind: OutboundFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'OutboundError';
  }
}

export const refused = (message: string) => new OutboundError('refused', message);
export const unreachable = (message: string, cause?: unknown) => new OutboundError('unreachable', message, { cause });

/** Anything a transport throws, as an OutboundError (its own errors pass through). */
export function asOutboundError(err: unknown, message = 'the connection failed'): OutboundError {
  return err instanceof OutboundError ? err : unreachable(message, err);
}
