import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobFailure } from '../../src/gpu-runner/failure.ts';
import { remoteSources } from '../../src/gpu-runner/sources.ts';
import { isFileTree } from '../../src/pipeline/io/fileTree.ts';
import { readHeader, type ByteSource } from '../../src/pipeline/io/safetensors.ts';
import { AllowList } from '../../src/storage/outbound/allowList.ts';
import { nodeOutbound } from '../../src/storage/outbound/node.ts';
import { attackerHost, internalService, SECRET, type Recorder } from '../security/fixtures.ts';
import { INTERNAL_HOSTS } from '../security/spellings.ts';
import { testStore } from '../storage/helpers.ts';
import { fixture } from '../pipeline/io/helpers.ts';
import { EXAMPLE } from './helpers.ts';

/** The runner's `url` downloads: the outbound guard, limits, and errors that are classes. */
describe('opening `url` inputs in the runner', () => {
  let files: Recorder;
  let internal: Recorder;
  const checkpoint = readFileSync(`${EXAMPLE}/seed1.safetensors`);
  const others: Record<string, Buffer> = { '/mlp.pt': readFileSync(fixture('mlp.pt')), '/model.tar.gz': readFileSync(fixture('hf_resnet_sharded.tar.gz')) };
  beforeAll(async () => {
    files = await attackerHost((req, res) => {
      if (req.url === '/seed1.safetensors') res.writeHead(200).end(checkpoint); // streamed, no length
      else if (others[req.url!]) res.writeHead(200).end(others[req.url!]);
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

  const file = async (url: string): Promise<ByteSource> => {
    const input = await open({ url }, 'models.0');
    if (isFileTree(input)) throw new Error('a URL is one file');
    return input;
  };

  it('reads an allowed file and checks it is in a format basin reads', async () => {
    const src = await file(`${files.url}/seed1.safetensors`);
    expect(src.size).toBe(checkpoint.length);
    expect((await readHeader(src)).entries.size).toBeGreaterThan(0);
    for (const [path, bytes] of Object.entries(others)) expect((await file(`${files.url}${path}`)).size).toBe(bytes.length);
  });

  it.each(INTERNAL_HOSTS)('refuses https://%s', async (host) => {
    expect((await failure(`https://${host}:${internal.port}/secret`)).code).toBe('input_refused');
  });

  it('turns every other failure into its class, with no remote bytes', async () => {
    expect(await failure(`${files.url}/secret`)).toMatchObject({ code: 'input_unsupported_format', message: 'models.1: the file at this URL is not in a format basin reads (safetensors, a torch.save file, or a .zip / .tar / .tar.gz of a model folder)' });
    expect((await failure(`${files.url}/gone`)).code).toBe('input_not_found');
    expect((await failure(`${files.url}/flaky`)).code).toBe('input_unreachable');
    expect((await failure('http://127.0.0.2:9/x')).code).toBe('input_unreachable');
    const big = await failure(`${files.url}/seed1.safetensors`, 100_000); // streamed: cut off while reading
    expect(big).toMatchObject({ code: 'input_too_large', message: 'models.1: the file at this URL is larger than the limit of 100000 bytes' });
    expect(internal.connections).toBe(0);
  });
});
