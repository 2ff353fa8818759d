import type { ByteSource } from './safetensors.ts';
import { CheckpointError } from './errors.ts';

/**
 * A folder of files, wherever it lives: a directory on disk (CLI), a .zip or .tar archive, or an S3
 * prefix (runner). Sharded safetensors, config.json + weights and model.json + shards are found
 * through this one interface, so every input is read the same way.
 */
export interface FileTree {
  /** for messages: the directory, archive or prefix */
  readonly label: string;
  /** regular files only: '/'-separated path relative to the root -> size in bytes */
  readonly files: ReadonlyMap<string, number>;
  /** files present but not read (formats basin never loads), for messages */
  readonly skipped?: readonly string[];
  open(path: string): Promise<ByteSource>;
  close?(): Promise<void>;
}

/** What a reference opens to: one file's bytes, or a folder of files. */
export type Input = ByteSource | FileTree;
export const isFileTree = (input: Input): input is FileTree => 'files' in input && 'open' in input;

/**
 * A relative path inside a tree, or an error: no absolute paths, no `..`, no empty or `.` segments,
 * no backslashes or NUL (archives are refused outright when an entry would escape its folder).
 */
export function safeRelativePath(path: string, where: string): string {
  const bad = (why: string): never => { throw new CheckpointError('unsafe_archive', `${where}: entry "${path.slice(0, 200)}" ${why}`); };
  if (path.includes('\0')) bad('contains a NUL byte');
  if (path.includes('\\')) bad('contains a backslash');
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) bad('is an absolute path');
  const parts = path.split('/').filter((p, i, all) => !(p === '' && i === all.length - 1) && p !== '.');
  if (parts.some((p) => p === '..')) bad('leaves the archive (..)');
  if (parts.some((p) => p === '')) bad('has an empty path segment');
  return parts.join('/');
}

/** Files an archiver adds that never belong to a model (macOS resource forks, Finder metadata). */
const JUNK = /(^|\/)(__MACOSX\/|\.DS_Store$|\._)/;

/**
 * The same tree seen from its single top-level folder when every file sits inside one (archives
 * usually wrap a folder: `my-model/config.json`), without junk files.
 */
export function rootedTree(tree: FileTree): FileTree {
  const files = new Map([...tree.files].filter(([p]) => !JUNK.test(p)));
  const tops = new Set([...files.keys()].map((p) => (p.includes('/') ? p.slice(0, p.indexOf('/') + 1) : '')));
  if (tops.size !== 1 || tops.has('')) return { label: tree.label, files, skipped: tree.skipped, open: tree.open.bind(tree), close: tree.close?.bind(tree) };
  const top = [...tops][0];
  return rootedTree({
    label: `${tree.label}/${top.slice(0, -1)}`,
    files: new Map([...files].map(([p, s]) => [p.slice(top.length), s])),
    skipped: tree.skipped,
    open: (p) => tree.open(top + p),
    close: tree.close?.bind(tree),
  });
}
