import pg from 'pg';

/**
 * The one way this project talks to PostgreSQL. On Node a pool serves every caller; on Workers a
 * connection cannot outlive its request, so each call opens one (Hyperdrive pools them for us).
 */
export interface Queryable {
  /** `name` makes it a prepared statement on a pooled connection (parsed and planned once per connection) */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[], name?: string): Promise<pg.QueryResult<R>>;
}

/** A pooled connection as a Queryable: named statements are prepared once per connection. */
const onClient = (client: pg.ClientBase): Queryable => ({
  query: (text, values, name) => client.query({ text, values, name }),
});

export interface Database extends Queryable {
  /** BEGIN ... COMMIT around `work`; ROLLBACK when it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

// Timestamps come back as ISO text from the queries themselves; bigint counts as numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/** The database could not be reached (as opposed to a query it refused): a 503, worth a retry. */
export class DatabaseUnavailable extends Error {
  constructor(cause: Error) {
    super(`database unavailable: ${cause.message}`, { cause });
  }
}

/** Outages leave here as DatabaseUnavailable, so callers that also talk to S3 can tell whose they are. */
async function marked<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw isDatabaseOutage(err) && !(err instanceof DatabaseUnavailable) ? new DatabaseUnavailable(err as Error) : err;
  }
}

async function inTransaction<T>(client: pg.ClientBase, work: (tx: Queryable) => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const out = await work(onClient(client));
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

/** A pool for long-lived Node processes (edge, runner). A dropped connection is replaced, never fatal. */
export function poolDatabase(connectionString: string, opts: { max?: number; name?: string } = {}): Database & { pool: pg.Pool } {
  const pool = new pg.Pool({
    connectionString,
    max: opts.max ?? 10,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    application_name: opts.name ?? 'basin',
  });
  // An idle client whose server went away emits 'error' on the pool: without a listener, Node exits.
  pool.on('error', (err) => console.warn(`basin ${opts.name ?? 'db'}: idle database connection lost: ${err.message}`));
  return {
    pool,
    query: (text, values, name) => marked(() => pool.query({ text, values, name })),
    transaction: (work) =>
      marked(async () => {
        const client = await pool.connect();
        let broken: Error | undefined;
        try {
          return await inTransaction(client, work);
        } catch (err) {
          if (isDatabaseOutage(err)) broken = err as Error;
          throw err;
        } finally {
          client.release(broken);
        }
      }),
    close: () => pool.end(),
  };
}

/** One connection per call, closed after it (Workers: I/O objects cannot be shared across requests). */
export function perCallDatabase(connectionString: string): Database {
  const withClient = async <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString, connectionTimeoutMillis: 5000 });
    client.on('error', () => {}); // surfaced by the failing query instead
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end().catch(() => {});
    }
  };
  return {
    // names are dropped: a connection that lives for one call gains nothing from preparing
    query: (text, values) => marked(() => withClient((c) => c.query(text, values))),
    transaction: (work) => marked(() => withClient((c) => inTransaction(c, work))),
    close: async () => {},
  };
}

/** The database is down or unreachable (worth a retry), as opposed to a query it refused. */
export function isDatabaseOutage(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (!e) return false;
  if (err instanceof DatabaseUnavailable) return true;
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE'].includes(e.code ?? '')) return true;
  // 57P01-03: the server is shutting down or restarting; 08xxx: connection exceptions; 53300: too many connections
  if (/^(57P0[123]|08\d\d\d|53300)$/.test(e.code ?? '')) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection is closed/i.test(e.message ?? '');
}

/** The schema is missing or behind (a Worker reached a database no runner has migrated yet). */
export function isSchemaMissing(err: unknown): boolean {
  return ['42P01', '3F000', '42883'].includes((err as { code?: string })?.code ?? '');
}
