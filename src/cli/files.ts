import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CheckpointError } from '../pipeline/io/errors.ts';
import { fileSource } from '../pipeline/runtime/nodeHost.ts';
import type { FileTree, Input } from '../pipeline/io/fileTree.ts';

/** A bad input: printed as one line, exit code 2. */
export class UsageError extends Error {}

/** Most files a model folder on disk may hold (a guard against pointing at a home directory). */
const MAX_FILES = 20_000;

/**
 * A directory on this machine as a FileTree. Symbolic links are followed: this is the user's own disk
 * (the Hugging Face cache links snapshot files to blobs), unlike an archive from elsewhere.
 */
async function directoryTree(root: string): Promise<FileTree> {
  const files = new Map<string, number>();
  for (const entry of await readdir(root, { recursive: true })) {
    const abs = join(root, entry);
    const s = await stat(abs).catch(() => undefined);
    if (!s?.isFile()) continue;
    if (files.size >= MAX_FILES) throw new CheckpointError('too_many_files', `${root}: more than ${MAX_FILES} files; point at the model's own folder`);
    files.set(relative(root, abs).split(sep).join('/'), s.size);
  }
  return { label: root, files, open: (p) => fileSource(join(root, p)) };
}

/** A local path: a file's bytes, or a directory as a tree. */
export async function openPath(path: string): Promise<Input> {
  return (await stat(path)).isDirectory() ? directoryTree(path) : fileSource(path);
}

/** A request (or architecture) file: YAML for .yaml / .yml, JSON otherwise. */
export async function readStructured(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  const yaml = /^\.ya?ml$/i.test(extname(path));
  try {
    return yaml ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new UsageError(`bad_request: ${path} is not valid ${yaml ? 'YAML' : 'JSON'} (${(e as Error).message.split('\n')[0]})`);
  }
}
