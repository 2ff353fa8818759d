import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobFailure } from '../../src/gpu-runner/failure.ts';
import { remoteSources } from '../../src/gpu-runner/sources.ts';
import { readHeader } from '../../src/pipeline/io/safetensors.ts';
import { AllowList } from '../../src/storage/outbound/allowList.ts';
import { nodeOutbound } from '../../src/storage/outbound/node.ts';
import { attackerHost, internalService, SECRET, type Recorder } from '../security/fixtures.ts';
import { INTERNAL_HOSTS } from '../security/spellings.ts';
import { testStore } from '../storage/helpers.ts';
import { EXAMPLE } from './helpers.ts';

/** The runner's `url` downloads: the outbound guard, limits, and errors that are classes. */
describe('opening `url` inputs in the runner', () => {
  let files: Recorder;
  let internal: Recorder;
  const checkpoint = readFileSync(`${EXAMPLE}/seed1.safetensors`);
  beforeAll(async () => {
    files = await attackerHost((req, res) => {
      if (req.url === '/seed1.safetensors') res.writeHead(200).end(checkpoint); // streamed, no length
      else if (req.url === '/secret') res.writeHead(200).end(SECRET);
      else res.writeHead(req.url === '/gone' ? 410 : 503).end();
    }, false);
    internal = await internalService();
  });
  afterAll(async () => {
    await files?.close();
    await internal?.close();
  });

  const guard = nodeOutbound({ allow: AllowList.parse('127.0.0.2/32'), dnsServers: [] });
  const opener = (maxBytes = 1024 ** 2) => remoteSources(testStore(), 'tenant', [], guard, { maxBytes, timeoutMs: 10_000, connectTimeoutMs: 2000 });
  const open = opener();
  const failure = async (url: string, maxBytes?: number) => {
    const err = await opener(maxBytes)({ url }, 'models.1').then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(JobFailure);
    return err as JobFailure;
  };

  it('reads an allowed file and checks it is safetensors', async () => {
    const src = await open({ url: `${files.url}/seed1.safetensors` }, 'models.0');
    expect(src.size).toBe(checkpoint.length);
    expect((await readHeader(src)).entries.size).toBeGreaterThan(0);
  });

  it.each(INTERNAL_HOSTS)('refuses https://%s', async (host) => {
    expect((await failure(`https://${host}:${internal.port}/secret`)).code).toBe('input_refused');
  });

  it('turns every other failure into its class, with no remote bytes', async () => {
    expect(await failure(`${files.url}/secret`)).toMatchObject({ code: 'input_not_safetensors', message: 'models.1: the file at this URL is not a valid safetensors file' });
    expect((await failure(`${files.url}/gone`)).code).toBe('input_not_found');
    expect((await failure(`${files.url}/flaky`)).code).toBe('input_unreachable');
    expect((await failure('http://127.0.0.2:9/x')).code).toBe('input_unreachable');
    const big = await failure(`${files.url}/seed1.safetensors`, 100_000); // streamed: cut off while reading
    expect(big).toMatchObject({ code: 'input_too_large', message: 'models.1: the file at this URL is larger than the limit of 100000 bytes' });
    expect(internal.connections).toBe(0);
  });
});
