/**
 * What basin asks of an archive reader, and the bounds every reader keeps. The readers themselves
 * (yauzl and node-tar, both Node-only) live in runtime/nodeArchives.ts and reach the engine through
 * the host (EngineHost.archives), so io/ stays free of Node's modules.
 *
 * A reader refuses, naming the entry: absolute paths, `..`, symlinks and hardlinks, devices, duplicate
 * names, encrypted entries, more than `maxEntries` entries, an entry over `maxEntryBytes`, files
 * adding up to more than `maxTotalBytes`, more than `maxExtractedBytes` held in memory.
 */
import type { ByteSource } from './safetensors.ts';
import { CheckpointError } from './errors.ts';
import type { FileTree } from './fileTree.ts';

export interface ArchiveLimits {
  maxEntries: number;
  /** any one file */
  maxEntryBytes: number;
  /** every file together, as declared (a .tar.gz whose files would stream past this is refused, read or not) */
  maxTotalBytes: number;
  /** inflated zip entries and kept tar files together */
  maxExtractedBytes: number;
}
export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = {
  maxEntries: 20_000,
  maxEntryBytes: 64 * 1024 ** 3,
  maxTotalBytes: 256 * 1024 ** 3,
  maxExtractedBytes: 8 * 1024 ** 3,
};

/** An archive's bytes as a folder of files; the tree owns `src` (closing the tree closes it). */
export type ArchiveReader = (src: ByteSource, label: string, limits: ArchiveLimits) => Promise<FileTree>;
export interface ArchiveReaders {
  zip: ArchiveReader;
  /** .tar, or .tar.gz (the reader sees the gzip magic) */
  tar: ArchiveReader;
}

/** Weight formats basin does not read: left in the archive rather than held in memory. */
export const NOT_READ = /\.(h5|hdf5|keras|onnx|msgpack|gguf|ggml|tflite|pb|ot|mlmodel|engine|npz|npy|png|jpe?g|gif|mp4|wav)$/i;

export const unsafeArchive = (label: string, why: string) => new CheckpointError('unsafe_archive', `${label}: ${why}`);
export const gib = (n: number) => `${(n / 1024 ** 3).toFixed(2).replace(/\.?0+$/, '')} GiB`;

/** A window of `length` bytes at `start` of another source. */
export function sliceSource(src: ByteSource, start: number, length: number, label: string): ByteSource {
  return {
    size: length,
    read(offset, n) {
      if (offset < 0 || n < 0 || offset + n > length) throw new CheckpointError('truncated', `${label}: read of ${n} bytes at ${offset} runs past its ${length} bytes`);
      return src.read(start + offset, n);
    },
  };
}
