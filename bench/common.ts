import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalMergeRequest, type Report } from '../src/contracts/index.ts';
import { initBackend } from '../src/pipeline/runtime/backend.ts';
import { createEngine, type EngineName } from '../src/pipeline/runtime/engines.ts';
import { runMerge } from '../src/pipeline/merge.ts';
import { prepareMerge } from '../src/pipeline/prepare.ts';
import { fileSource, nodeHost } from '../src/pipeline/runtime/nodeHost.ts';

export const examplesDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples');

export function exampleExists(name: string): boolean {
  return existsSync(join(examplesDir, name, 'seed1.safetensors')) && existsSync(join(examplesDir, name, 'request.json'));
}

/** Merge an example pair with its committed request, overridden field by field. */
export async function mergeExample(name: string, overrides: Record<string, unknown>, engineName?: EngineName): Promise<{ report: Report; seconds: number }> {
  const backend = await initBackend({ hasGpuDevice: nodeHost.hasGpuDevice });
  const dir = join(examplesDir, name);
  const raw = JSON.parse(await readFile(join(dir, 'request.json'), 'utf8'));
  const request = LocalMergeRequest.parse({ ...raw, ...overrides });
  const { engine } = await createEngine({ prefer: engineName && [engineName], threads: nodeHost.threads(), batchSize: request.compute.batchSize });
  const t0 = performance.now();
  const prepared = await prepareMerge(request, async (ref) => {
    if (!('path' in ref)) throw new Error('examples use local paths');
    return fileSource(join(dir, ref.path));
  }, nodeHost);
  const { report } = await runMerge({ ...prepared, options: request, backend: backend.name, engine, loadSeconds: (performance.now() - t0) / 1000 });
  return { report, seconds: (performance.now() - t0) / 1000 };
}

export const fmt = (v: number | null | undefined, digits = 3) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits));
export const pct = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '-' : (100 * v).toFixed(2));
