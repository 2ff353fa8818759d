import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { describe, expect, inject, it } from 'vitest';

/** Does a TCP connection to host:port open? */
const opens = (host: string, port: number) =>
  new Promise<boolean>((ok) => {
    const socket = connect({ host, port, timeout: 3000 });
    const done = (open: boolean) => {
      socket.destroy();
      ok(open);
    };
    socket.once('connect', () => done(true)).once('error', () => done(false)).once('timeout', () => done(false));
  });

describe('the local S3 server (s3rver, no authentication)', () => {
  it('listens on loopback and on no other interface of this machine', async () => {
    const endpoint = new URL(inject('s3Endpoint'));
    expect(endpoint.hostname).toBe('127.0.0.1');
    const port = Number(endpoint.port);
    expect(await opens('127.0.0.1', port)).toBe(true);
    const others = Object.values(networkInterfaces()).flat().filter((a) => a && !a.internal && !a.address.startsWith('fe80:'));
    for (const a of others) expect(await opens(a!.address, port), a!.address).toBe(false);
  });
});
