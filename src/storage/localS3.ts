import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export { LOCAL_S3_CREDENTIALS } from './credentials.ts';

export interface LocalS3 {
  endpoint: string;
  port: number;
  pid: number | undefined;
  /** resolves when the server process exits, by a stop or otherwise */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

/**
 * Starts s3rver as a child process on loopback only (port 0: a free one) with the buckets created.
 * It authenticates nothing (see s3rver-main.mjs): local development and tests, never production.
 */
export function startLocalS3(opts: { directory: string; buckets: string[]; port?: number }): Promise<LocalS3> {
  const script = fileURLToPath(new URL('./s3rver-main.mjs', import.meta.url));
  const child: ChildProcess = spawn(
    process.execPath,
    ['--openssl-legacy-provider', script, opts.directory, String(opts.port ?? 0), ...opts.buckets],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    let buf = '';
    const onExit = (code: number | null) => reject(new Error(`s3rver exited early (code ${code})`));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) => child.once('exit', (code, signal) => ok({ code, signal })));
    child.once('exit', onExit);
    child.once('error', reject);
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      child.off('exit', onExit);
      const { port } = JSON.parse(buf.slice(0, nl)) as { port: number };
      resolve({
        port,
        pid: child.pid,
        exited,
        endpoint: `http://127.0.0.1:${port}`,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    });
  });
}
