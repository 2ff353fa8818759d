import { readdirSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { MAX_IO_CHUNK, positionalSource, safetensorsChunks, type ByteSource, type TensorInput } from '../io/safetensors.ts';
import type { EngineHost } from './host.ts';
import { nodeArchives } from './nodeArchives.ts';

/**
 * The engine's Node adapter: every file-system and device access the engine's callers need (the
 * CLI, the runner, benches, examples, tests) and, with the archive readers it carries
 * (nodeArchives.ts), the only module under src/pipeline that imports Node's modules. No engine
 * module imports it: callers pass `nodeHost` in, or use its file helpers next to the engine's pure
 * codecs (a test holds both rules).
 */

const require = createRequire(import.meta.url);

export const nodeHost: EngineHost = {
  packageFiles: async (pkg, path) => {
    const bytes = await readFile(join(dirname(require.resolve(`${pkg}/package.json`)), path));
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  },
  archives: nodeArchives,
  hasGpuDevice: () => {
    // only Linux names its devices where this can look; elsewhere let the backend try
    if (process.platform !== 'linux') return true;
    try {
      return readdirSync('/dev').some((d) => d === 'dri' || /^nvidia\d+$/.test(d));
    } catch {
      return false;
    }
  },
  threads: () => {
    const set = Number(process.env.BASIN_THREADS);
    return Number.isInteger(set) && set > 0 ? set : availableParallelism();
  },
};

/** A safetensors source over a local file, read with positional reads; call close() when done. */
export async function fileSource(path: string): Promise<ByteSource> {
  const fh = await open(path, 'r');
  let size: number;
  try {
    size = (await fh.stat()).size;
  } catch (err) {
    await fh.close();
    throw err;
  }
  return positionalSource(path, size, async (buffer, offset, length, position) => (await fh.read(buffer, offset, length, position)).bytesRead, () => fh.close());
}

/** Write a safetensors file tensor by tensor (never one buffer for the whole file). */
export async function writeSafetensorsFile(path: string, tensors: TensorInput, metadata?: Record<string, string>): Promise<void> {
  const { chunks } = safetensorsChunks(tensors, metadata); // validates everything before the file is touched
  const fh = await open(path, 'w');
  try {
    let position = 0;
    for (const bytes of chunks) {
      let done = 0;
      while (done < bytes.length) {
        const { bytesWritten } = await fh.write(bytes, done, Math.min(bytes.length - done, MAX_IO_CHUNK), position);
        done += bytesWritten;
        position += bytesWritten;
      }
    }
  } finally {
    await fh.close();
  }
}
