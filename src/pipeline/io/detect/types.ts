import { CheckpointError } from '../errors.ts';

/** What detection reads: tensor shapes, and config.json / a tfjs topology when the input had them. */
export interface DetectInput {
  tensors: ReadonlyMap<string, { shape: number[] }>;
  config?: Record<string, unknown>;
  topology?: unknown;
}

export interface DetectHints {
  /** the evaluation data's sample shape: a conv net's input when its channels match */
  sampleShape?: readonly number[];
}

/** An architecture read from a checkpoint, as request JSON, with what was recognised and how. */
export interface Detection {
  architecture: Record<string, unknown>;
  source: 'config.json' | 'model.json' | 'tensor names';
  family: string;
  notes: string[];
  /** a prefix every tensor name carries that the architecture's names leave out (cut it before building) */
  prefix?: string;
}

/** Tensor shapes by name, with the lookups detectors need. */
export class Names {
  constructor(readonly tensors: ReadonlyMap<string, { shape: number[] }>) {}
  has(name: string): boolean { return this.tensors.has(name); }
  shape(name: string): number[] | undefined { return this.tensors.get(name)?.shape; }
  /** distinct integers N in names matching `${prefix}N.` */
  indices(prefix: string): number[] {
    const out = new Set<number>();
    for (const n of this.tensors.keys()) {
      if (!n.startsWith(prefix)) continue;
      const m = /^(\d+)\./.exec(n.slice(prefix.length));
      if (m) out.add(Number(m[1]));
    }
    return [...out].sort((a, b) => a - b);
  }
}

export const notDetected = (why: string) => new CheckpointError('architecture_not_detected', `${why}; give "architecture" in the request (README: Architectures and formats)`);
export const unsupportedArchitecture = (what: string) => new CheckpointError('unsupported_architecture', `${what}; give "architecture" in the request if basin's layer kinds can express it`);

/** A conv net's input: the data's sample shape when its channels match, else `fallback` (said in a note). */
export function convInput(channels: number, hints: DetectHints, fallback: number[], notes: string[]): number[] {
  const s = hints.sampleShape;
  if (s && s.length === 3 && s[0] === channels) return [...s];
  notes.push(`input [${fallback.join(', ')}] assumed (set "input" in the architecture for another image size)`);
  return fallback;
}
