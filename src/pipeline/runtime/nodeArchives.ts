/**
 * .zip and .tar (optionally gzipped) archives as FileTrees, read safely from any ByteSource: the
 * engine's archive readers on Node (yauzl and node-tar are Node-only), passed in as
 * `nodeHost.archives`. The bounds and refusals are io/archive.ts's.
 *
 * zip (yauzl): the central directory is read by ranged reads; a stored entry (how torch.save and
 * most model zips store weights) is a window onto the archive, read in place and never extracted;
 * a deflated entry is inflated into memory when opened, bounded by its declared size, which yauzl
 * checks against the real one (zip bombs end there).
 * tar (node-tar): read in one streamed pass; the files a model may need are kept in memory within
 * the limits, formats basin never reads (Keras .h5, ONNX, Flax msgpack, GGUF, ...) are skipped.
 */
import { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { Parser, type ReadEntry } from 'tar';
import { bufferSource, type ByteSource } from '../io/safetensors.ts';
import { CheckpointError } from '../io/errors.ts';
import { safeRelativePath, type FileTree } from '../io/fileTree.ts';
import { gib, NOT_READ, sliceSource, unsafeArchive as unsafe, type ArchiveLimits, type ArchiveReaders } from '../io/archive.ts';

/** Largest single ranged read while streaming an archive. */
const CHUNK = 8 * 1024 * 1024;

async function* chunks(src: ByteSource, start: number, end: number): AsyncGenerator<Buffer> {
  for (let at = start; at < end; at += CHUNK) {
    const bytes = await src.read(at, Math.min(CHUNK, end - at));
    yield Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
}

/** Everything a stream yields, refusing past `max` bytes. */
async function collect(stream: AsyncIterable<Uint8Array>, max: number, onOver: () => Error): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const part of stream) {
    size += part.length;
    if (size > max) throw onOver();
    parts.push(part);
  }
  return Buffer.concat(parts, size);
}

class SourceReader extends yauzl.RandomAccessReader {
  constructor(private readonly src: ByteSource) {
    super();
  }
  override _readStreamForRange(start: number, end: number): Readable {
    return Readable.from(chunks(this.src, start, end));
  }
}

function entries(zip: yauzl.ZipFile): Promise<yauzl.Entry[]> {
  return new Promise((resolve, reject) => {
    const all: yauzl.Entry[] = [];
    zip.on('entry', (e: yauzl.Entry) => { all.push(e); zip.readEntry(); });
    zip.on('end', () => resolve(all));
    zip.on('error', reject);
    zip.readEntry();
  });
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

/** The zip's entry names, sizes and how each is stored; nothing is extracted. The tree owns `src` (closing it closes both). */
async function zipTree(src: ByteSource, label: string, limits: ArchiveLimits): Promise<FileTree> {
  let zip: yauzl.ZipFile;
  let list: yauzl.Entry[];
  try {
    zip = await yauzl.fromRandomAccessReaderPromise(new SourceReader(src), src.size, { lazyEntries: true, strictFileNames: true, validateEntrySizes: true, autoClose: false });
    if (zip.entryCount > limits.maxEntries) throw unsafe(label, `${zip.entryCount} entries, more than the limit of ${limits.maxEntries}`);
    list = await entries(zip);
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    const msg = (e as Error).message;
    // yauzl's own name checks (absolute paths, "..", backslashes) and structural errors
    if (/path|file name|filename/i.test(msg)) throw unsafe(label, msg);
    throw new CheckpointError('bad_archive', `${label}: not a readable zip archive (${msg})`);
  }
  const files = new Map<string, yauzl.Entry>();
  for (const e of list) {
    const mode = (e.externalFileAttributes >>> 16) & S_IFMT;
    if (e.fileName.endsWith('/') || mode === S_IFDIR) continue;
    if (mode !== 0 && mode !== S_IFREG) throw unsafe(label, `entry "${e.fileName}" is ${mode === 0o120000 ? 'a symbolic link' : 'not a regular file'}; archives of links are refused`);
    const path = safeRelativePath(e.fileName, label);
    if (files.has(path)) throw unsafe(label, `entry "${path}" appears twice`);
    if (e.isEncrypted()) throw new CheckpointError('bad_archive', `${label}: entry "${path}" is encrypted`);
    if (e.compressionMethod !== 0 && e.compressionMethod !== 8) throw new CheckpointError('bad_archive', `${label}: entry "${path}" uses compression method ${e.compressionMethod}; basin reads stored and deflated entries`);
    if (e.uncompressedSize > limits.maxEntryBytes) throw unsafe(label, `entry "${path}" is ${gib(e.uncompressedSize)}, over the limit of ${gib(limits.maxEntryBytes)} per file`);
    files.set(path, e);
  }
  const total = [...files.values()].reduce((a, e) => a + e.uncompressedSize, 0);
  if (total > limits.maxTotalBytes) throw unsafe(label, `its files add up to ${gib(total)}, over the limit of ${gib(limits.maxTotalBytes)}`);
  let extracted = 0;
  const inflated = new Map<string, Promise<ByteSource>>();
  return {
    label,
    files: new Map([...files].map(([p, e]) => [p, e.uncompressedSize])),
    async open(path) {
      const e = files.get(path);
      if (!e) throw new CheckpointError('file_not_found', `${label}: no file "${path}"`);
      if (e.compressionMethod === 0) {
        const { fileDataStart } = await zip.readLocalFileHeaderPromise(e, { minimal: true });
        return sliceSource(src, fileDataStart, e.uncompressedSize, `${label}/${path}`);
      }
      let p = inflated.get(path);
      if (!p) {
        if (extracted + e.uncompressedSize > limits.maxExtractedBytes) throw unsafe(label, `inflating "${path}" would hold ${gib(extracted + e.uncompressedSize)} in memory, over the limit of ${gib(limits.maxExtractedBytes)}`);
        extracted += e.uncompressedSize;
        p = (async () => {
          try {
            const bytes = await collect(await zip.openReadStreamPromise(e), e.uncompressedSize, () => unsafe(label, `entry "${path}" inflates past its declared ${e.uncompressedSize} bytes`));
            return bufferSource(bytes);
          } catch (err) {
            if (err instanceof CheckpointError) throw err;
            throw new CheckpointError('bad_archive', `${label}: entry "${path}" cannot be inflated (${(err as Error).message})`);
          }
        })();
        inflated.set(path, p);
      }
      return p;
    },
    async close() {
      zip.close();
      await src.close?.();
    },
  };
}

const REGULAR = new Set(['File', 'OldFile', 'ContiguousFile']);

/** A .tar or .tar.gz read in one pass (the source is closed after it); regular files kept in memory within the limits. */
async function tarTree(src: ByteSource, label: string, limits: ArchiveLimits): Promise<FileTree> {
  const kept = new Map<string, Uint8Array>();
  const skipped: string[] = [];
  let count = 0;
  let held = 0;
  let streamed = 0;
  let failure: Error | undefined;
  const fail = (e: Error) => { failure ??= e; };
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      const refuse = (e: Error) => { fail(e); entry.resume(); };
      if (failure) return entry.resume();
      if (++count > limits.maxEntries) return refuse(unsafe(label, `more than ${limits.maxEntries} entries`));
      if (entry.type === 'Directory') return entry.resume();
      if (entry.type === 'SymbolicLink' || entry.type === 'Link') return refuse(unsafe(label, `entry "${entry.path}" is a ${entry.type === 'Link' ? 'hard' : 'symbolic'} link to "${entry.linkpath}"; archives of links are refused`));
      if (!REGULAR.has(entry.type)) return refuse(unsafe(label, `entry "${entry.path}" is a ${entry.type}, not a regular file`));
      let path: string;
      try {
        path = safeRelativePath(entry.path, label);
      } catch (e) {
        return refuse(e as Error);
      }
      if (kept.has(path)) return refuse(unsafe(label, `entry "${path}" appears twice`));
      const size = entry.size ?? 0;
      if (size > limits.maxEntryBytes) return refuse(unsafe(label, `entry "${path}" is ${gib(size)}, over the limit of ${gib(limits.maxEntryBytes)} per file`));
      if ((streamed += size) > limits.maxTotalBytes) return refuse(unsafe(label, `its files add up to more than the limit of ${gib(limits.maxTotalBytes)}`));
      if (NOT_READ.test(path)) { skipped.push(path); return entry.resume(); }
      if (held + size > limits.maxExtractedBytes) return refuse(unsafe(label, `its files would hold ${gib(held + size)} in memory, over the limit of ${gib(limits.maxExtractedBytes)}; a .zip with stored entries is read in place`));
      held += size;
      const buf = new Uint8Array(size);
      let at = 0;
      entry.on('data', (d: Buffer) => {
        if (at + d.length > size) return fail(unsafe(label, `entry "${path}" holds more than its declared ${size} bytes`));
        buf.set(d, at);
        at += d.length;
      });
      entry.on('end', () => { if (at === size) kept.set(path, buf); else fail(new CheckpointError('truncated', `${label}: entry "${path}" has ${at} of its ${size} bytes`)); });
    },
  });
  const done = new Promise<void>((resolve) => {
    parser.on('error', (e: Error) => { fail(new CheckpointError('bad_archive', `${label}: not a readable tar archive (${e.message})`)); resolve(); });
    parser.on('close', () => resolve());
  });
  try {
    for await (const chunk of chunks(src, 0, src.size)) {
      if (failure) break;
      if (!parser.write(chunk)) await new Promise((r) => parser.once('drain', r));
    }
    parser.end();
    await done;
  } finally {
    await src.close?.(); // everything kept is in memory now
  }
  if (failure) throw failure;
  if (count === 0) throw new CheckpointError('bad_archive', `${label}: the tar archive holds no entries`);
  return {
    label,
    files: new Map([...kept].map(([p, b]) => [p, b.length])),
    skipped,
    async open(path) {
      const bytes = kept.get(path);
      if (!bytes) throw new CheckpointError('file_not_found', `${label}: no file "${path}"`);
      return bufferSource(bytes);
    },
  };
}

export const nodeArchives: ArchiveReaders = { zip: zipTree, tar: tarTree };
