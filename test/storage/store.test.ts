import { describe, expect, it } from 'vitest';
import { keys, parseS3Uri } from '../../src/storage/index.ts';
import { freshTenant, testStore } from './helpers.ts';

describe('key layout (DESIGN 2)', () => {
  it('puts everything under the tenant prefix', () => {
    expect(keys.upload('acme', 'upl_abc123')).toBe('t/acme/uploads/upl_abc123');
    expect(keys.jobFile('acme', 'job_1', 'merged.safetensors')).toBe('t/acme/jobs/job_1/merged.safetensors');
    expect(keys.jobFile('acme', 'job_1', 'report.svg')).toBe('t/acme/jobs/job_1/report.svg');
  });
  it('refuses segments that could escape a prefix', () => {
    expect(() => keys.upload('acme', '../other')).toThrow();
    expect(() => keys.job('a/b', 'x')).toThrow();
    expect(() => keys.job('acme', '')).toThrow();
  });
  it('parses s3 uris', () => {
    expect(parseS3Uri('s3://bkt/a/b.safetensors')).toEqual({ bucket: 'bkt', key: 'a/b.safetensors' });
    expect(parseS3Uri('https://x/y')).toBeUndefined();
  });
});

describe('BlobStore against s3rver', () => {
  const store = testStore();

  it('round-trips bytes and reports missing objects as undefined', async () => {
    const t = freshTenant();
    const key = keys.jobFile(t, 'job_a', 'report.json');
    expect(await store.getBytes(key)).toBeUndefined();
    expect(await store.head(key)).toBeUndefined();
    await store.putBytes(key, JSON.stringify({ status: 'queued', n: 1 }), 'application/json');
    expect(JSON.parse(new TextDecoder().decode(await store.getBytes(key)))).toEqual({ status: 'queued', n: 1 });
    const info = await store.head(key);
    expect(info?.size).toBe(JSON.stringify({ status: 'queued', n: 1 }).length);
    await store.delete(key);
    expect(await store.head(key)).toBeUndefined();
  });

  it('stores bytes exactly (no chunk framing) and reads ranges', async () => {
    const key = keys.upload(freshTenant(), 'upl_bytes01');
    const data = new Uint8Array(70_000).map((_, i) => (i * 31 + 7) & 255);
    await store.putBytes(key, data);
    const src = await store.source(key);
    expect(src?.size).toBe(data.length);
    expect(Array.from(await src!.read(0, 8))).toEqual(Array.from(data.subarray(0, 8)));
    expect(Array.from(await src!.read(65_530, 100))).toEqual(Array.from(data.subarray(65_530, 65_630)));
    expect((await src!.read(10, 0)).length).toBe(0);
    await expect(src!.read(69_990, 20)).rejects.toThrow(RangeError);
    expect(await store.source(keys.upload(freshTenant(), 'upl_missing'))).toBeUndefined();
  });

  it('presigns PUT (size-bound) and GET URLs that work over plain HTTP', async () => {
    const key = keys.upload(freshTenant(), 'upl_presign1');
    const body = new TextEncoder().encode('hello safetensors');
    const put = await store.presignPut(key, { expiresIn: 60, contentLength: body.length });
    // Content-Length is a signed header, so S3 refuses any other size (s3rver does not check it)
    expect(new URL(put).searchParams.get('X-Amz-SignedHeaders')).toContain('content-length');
    const res = await fetch(put, { method: 'PUT', body });
    expect(res.status).toBe(200);
    const get = await store.presignGet(key, { expiresIn: 60 });
    const got = await fetch(get);
    expect(got.status).toBe(200);
    expect(await got.text()).toBe('hello safetensors');
  });
});
