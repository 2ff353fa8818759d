import { serve } from '@hono/node-server';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { poolDatabase } from '../jobs/db.ts';
import { migrateDatabase } from '../jobs/queue.ts';
import { startLocalS3, type LocalS3 } from '../storage/localS3.ts';
import { nodeOutbound } from '../storage/outbound/node.ts';
import { createApp } from './app.ts';
import { answerClientError } from './clientError.ts';
import type { DocsAssets } from './docs.ts';
import { configFromEnv, DEV_API_KEY, type BasinEnv } from './env.ts';

export interface RunningEdge {
  url: string;
  port: number;
  localS3?: LocalS3;
  close(): Promise<void>;
}

/** /docs's files from the installed swagger-ui-dist, read once each. */
export function nodeDocsAssets(): DocsAssets {
  const dir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const files = new Map<string, Promise<Uint8Array | undefined>>();
  return (file) => {
    let bytes = files.get(file);
    if (!bytes) files.set(file, (bytes = readFile(join(dir, file)).then((b) => new Uint8Array(b), () => undefined)));
    return bytes;
  };
}

/**
 * The edge on Node: jobs in DATABASE_URL (migrated at start, if this process is the first), blobs
 * in S3. Without BASIN_S3_ENDPOINT it starts its own s3rver (data in BASIN_DATA_DIR, default
 * .basin/s3).
 */
export async function startEdge(env: BasinEnv & { PORT?: string; HOST?: string; BASIN_DATA_DIR?: string } = process.env): Promise<RunningEdge> {
  // The SDK warns that its 2027 releases need Node 22; the version in package.json is pinned exactly.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  let localS3: LocalS3 | undefined;
  const bucket = env.BASIN_BUCKET ?? 'basin';
  if (!env.BASIN_S3_ENDPOINT) {
    const directory = resolve(env.BASIN_DATA_DIR ?? '.basin/s3');
    await mkdir(directory, { recursive: true });
    localS3 = await startLocalS3({ directory, buckets: [bucket, ...(env.BASIN_ALLOWED_BUCKETS ?? '').split(',').filter(Boolean)] });
    env = { ...env, BASIN_S3_ENDPOINT: localS3.endpoint };
  }
  if (!env.DATABASE_URL) throw new Error('DATABASE_URL is not set: the edge keeps jobs in that PostgreSQL (npm start runs one for you)');
  const db = poolDatabase(env.DATABASE_URL, { max: 20, name: 'basin-edge' });
  try {
    await migrateDatabase(db.pool);
  } catch (err) {
    await db.close();
    await localS3?.stop();
    throw err;
  }
  // on Node, `url` references are resolved once, every address checked, and the connection pinned
  const app = createApp({ ...configFromEnv(env, db, nodeOutbound), docsAssets: nodeDocsAssets() });
  const host = env.HOST ?? '127.0.0.1';
  const server = await new Promise<ReturnType<typeof serve>>((ok) => {
    const s = serve({ fetch: app.fetch, port: Number(env.PORT ?? 8787), hostname: host }, () => ok(s));
  });
  server.on('clientError', answerClientError);
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    localS3,
    close: async () => {
      await new Promise<void>((done) => server.close(() => done()));
      await db.close();
      await localS3?.stop();
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const edge = await startEdge();
  // One machine-readable line first (tests and scripts read it), then a human one.
  console.log(JSON.stringify({ listening: edge.url, s3: edge.localS3?.endpoint ?? process.env.BASIN_S3_ENDPOINT }));
  if (!process.env.BASIN_API_KEYS) console.log(`basin edge on ${edge.url} (dev key: ${DEV_API_KEY}; set BASIN_API_KEYS in production)`);
  const stop = () => edge.close().finally(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
