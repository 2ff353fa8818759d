import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create as createTar } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { paths } from '../../src/contracts/openapi.gen.ts';
import { Report } from '../../src/contracts/report.ts';
import { bufferSource, encodeSafetensors, readSafetensors } from '../../src/pipeline/io/safetensors.ts';
import { storeFromEnv } from '../../src/storage/env.ts';
import { EXTERNAL_BUCKET, freshTenant } from '../storage/helpers.ts';
import { EXAMPLE, exampleRequest } from './helpers.ts';
import { startStack } from './localStack.ts';

type Body = paths['/v1/merges']['post']['requestBody']['content']['application/json'];

/** A checkpoint as Hugging Face's save_pretrained shards it: two files and model.safetensors.index.json. */
async function sharded(path: string): Promise<Record<string, Uint8Array>> {
  const { tensors } = await readSafetensors(bufferSource(readFileSync(path)));
  const names = [...tensors.keys()];
  const half = Math.ceil(names.length / 2);
  const files: Record<string, Uint8Array> = {};
  const weightMap: Record<string, string> = {};
  [names.slice(0, half), names.slice(half)].forEach((part, k) => {
    const file = `model-0000${k + 1}-of-00002.safetensors`;
    files[file] = encodeSafetensors(new Map(part.map((n) => [n, tensors.get(n)!])), { format: 'pt' });
    for (const n of part) weightMap[n] = file;
  });
  files['model.safetensors.index.json'] = new TextEncoder().encode(JSON.stringify({ metadata: {}, weight_map: weightMap }));
  files['config.json'] = new TextEncoder().encode('{"note": "not a Hugging Face class: the request names the architecture"}');
  return files;
}

/**
 * Model folders through the API on the local stack: one model uploaded as a .tar.gz of a sharded
 * folder, the other an s3:// prefix holding one. Both are the committed example pair, so the merge
 * must be byte for byte the merge of the plain files.
 */
describe('sharded and archived checkpoints through the API (s3rver, runner, edge)', () => {
  const tenant = freshTenant();
  let stack: Awaited<ReturnType<typeof startStack>>;
  beforeAll(async () => { stack = await startStack(tenant); }, 120_000);
  afterAll(async () => { await stack?.stop(); });

  const merge = async (models: Body['models']) => {
    const created = await stack.client.POST('/v1/merges', { body: exampleRequest(models) as Body });
    expect(created.response.status).toBe(202);
    return stack.untilDone(created.data!.id);
  };
  const weights = async (id: string) => {
    const res = await fetch(`${stack.base}/v1/merges/${id}/weights`, { headers: { authorization: `Bearer ${stack.apiKey}` }, redirect: 'manual' });
    return new Uint8Array(await (await fetch(res.headers.get('location')!)).arrayBuffer());
  };

  it('a .tar.gz upload of a sharded folder and an s3:// folder merge exactly as the plain files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'basin-sharded-'));
    mkdirSync(join(dir, 'seed1-sharded'));
    for (const [name, bytes] of Object.entries(await sharded(`${EXAMPLE}/seed1.safetensors`))) writeFileSync(join(dir, 'seed1-sharded', name), bytes);
    await createTar({ gzip: true, file: join(dir, 'seed1.tar.gz'), cwd: dir }, ['seed1-sharded']);
    const external = storeFromEnv(stack.storage).forBucket(EXTERNAL_BUCKET);
    const prefix = `models/${tenant}/seed2/`;
    for (const [name, bytes] of Object.entries(await sharded(`${EXAMPLE}/seed2.safetensors`))) await external.putBytes(prefix + name, bytes);

    const plain = await merge([{ upload: await stack.upload(`${EXAMPLE}/seed1.safetensors`) }, { upload: await stack.upload(`${EXAMPLE}/seed2.safetensors`) }]);
    const folders = await merge([{ upload: await stack.upload(join(dir, 'seed1.tar.gz')) }, { uri: `s3://${EXTERNAL_BUCKET}/${prefix}` }]);
    expect(plain).toMatchObject({ status: 'succeeded', error: null });
    expect(folders).toMatchObject({ status: 'succeeded', error: null });
    expect(Buffer.compare(Buffer.from(await weights(plain.id)), Buffer.from(await weights(folders.id)))).toBe(0);
    const report = Report.parse((await stack.client.GET('/v1/merges/{id}/report', { params: { path: { id: folders.id } } })).data);
    expect(report.checkpoints).toEqual([
      { format: 'safetensors-sharded', notes: ['2 shards read through model.safetensors.index.json'] },
      { format: 'safetensors-sharded', notes: ['2 shards read through model.safetensors.index.json'] },
    ]);
    expect(report.architecture?.source).toBe('request');
  });

  it('an empty s3:// folder is refused at the edge; a hostile torch file fails the job with its code', async () => {
    const missing = await stack.client.POST('/v1/merges', { body: exampleRequest([{ uri: `s3://${EXTERNAL_BUCKET}/nothing/${tenant}/` }, { uri: `s3://${EXTERNAL_BUCKET}/nothing/${tenant}/` }]) as Body });
    expect(missing.response.status).toBe(422);
    expect(missing.error).toMatchObject({ code: 'input_not_found', errors: [{ path: 'models.0.uri', message: expect.stringMatching(/^no objects under/) }, { path: 'models.1.uri' }] });
    const evil = await stack.upload(join(import.meta.dirname, '..', 'fixtures', 'checkpoints', 'evil_os_system.pt'));
    const failed = await merge([{ upload: evil }, { upload: evil }]);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatchObject({ code: 'forbidden_global', message: expect.stringMatching(/^models\.0 \(data\.pkl\): the pickle names (posix|os)\.system/) });
  });
});
