import { writeFile, readFile } from 'node:fs/promises';
import { createApp } from './app.ts';
import { defaultLimits } from './config.ts';
import { openApiYaml } from './openapi.ts';
import { BlobStore } from '../storage/store.ts';
import { createS3Client } from '../storage/client.ts';
import { fetchOutbound } from '../storage/outbound/fetch.ts';
import { publicOnly } from '../storage/outbound/policy.ts';
import { perCallDatabase } from '../jobs/db.ts';
import { JobStore } from '../jobs/store.ts';

/** The committed document: built from the same routes the server runs (nothing is contacted). */
export function committedSpec(): string {
  const store = new BlobStore(createS3Client({ endpoint: 'http://127.0.0.1:9', accessKeyId: 'x', secretAccessKey: 'x' }), 'spec');
  const jobs = new JobStore(perCallDatabase('postgres://127.0.0.1:9/spec'));
  return openApiYaml(createApp({ store, jobs, apiKeys: new Map(), allowedBuckets: [], limits: defaultLimits, outbound: fetchOutbound(publicOnly) }));
}

export const SPEC_PATH = new URL('../../openapi.yaml', import.meta.url);

// `npm run openapi` writes it; `--check` exits 1 when the committed file has drifted.
if (process.argv[1]?.endsWith('openapi-main.ts')) {
  const text = committedSpec();
  if (process.argv.includes('--check')) {
    const current = await readFile(SPEC_PATH, 'utf8').catch(() => '');
    if (current !== text) {
      console.error('openapi.yaml is out of date: run npm run openapi');
      process.exit(1);
    }
  } else {
    await writeFile(SPEC_PATH, text);
    console.log(`wrote openapi.yaml (${text.length} bytes)`);
  }
}
