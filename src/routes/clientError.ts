import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ProblemCode } from '../contracts/problem.ts';
import { problemBody } from './problem.ts';

/**
 * Node's HTTP parser rejects some requests before any route sees them (headers over its 16 KiB
 * limit, broken framing, a request that never finishes arriving). Its own answer is a bare status
 * line; this one is the same status as problem+json, like every other error of the API.
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, code]: [number, ProblemCode] =
    err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'headers_too_large'] : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'request_timeout'] : [400, 'malformed_request'];
  const body = JSON.stringify(problemBody(status, code));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
