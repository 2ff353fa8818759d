import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import pg from 'pg';
import { poolDatabase, type Database } from '../../src/jobs/db.ts';
import { migrateDatabase } from '../../src/jobs/queue.ts';
import { JobStore, type defaultPolicy } from '../../src/jobs/store.ts';

/** `postgresUrl` with another database name. */
export function databaseUrl(name: string, server = inject('postgresUrl')): string {
  const u = new URL(server);
  u.pathname = `/${name}`;
  return u.toString();
}

/** A new, migrated database for one test file: runners take every job of their database, so files never share one. */
export async function testDatabase(server = inject('postgresUrl')) {
  const name = `basin_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = databaseUrl(name, server);
  const db = poolDatabase(url, { max: 10, name: 'basin-test' });
  await migrateDatabase(db.pool);
  return { url, db, jobs: (policy: Partial<typeof defaultPolicy> = {}) => new JobStore(db, policy), close: () => db.close() };
}

/**
 * The file's database, made on first use (so helpers that build apps synchronously can take it):
 * one per test file, since vitest isolates modules per file.
 */
let shared: ReturnType<typeof testDatabase> | undefined;
export function fileDatabase(): Database {
  const ready = () => (shared ??= testDatabase());
  return {
    query: async (text, values) => (await ready()).db.query(text, values),
    transaction: async (work) => (await ready()).db.transaction(work),
    close: async () => {},
  };
}
