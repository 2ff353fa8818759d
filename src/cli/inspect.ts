/**
 * `basin inspect PATH`: what basin reads in a checkpoint (file, folder or archive): its format, its
 * tensors, the architecture detected (as request JSON) or given, the permutation spaces that
 * architecture has, and the problems a merge would meet (tensors missing, unused or non-finite).
 */
import { ArchitectureReport, describeIssues, issuesLine } from '../contracts/index.ts';
import { checkpointShapes, openCheckpoint, stripPrefix, type Checkpoint } from '../pipeline/io/checkpoint.ts';
import { detectArchitecture } from '../pipeline/io/detect/index.ts';
import { EngineError, ModelError } from '../pipeline/errors.ts';
import { buildGraph, unusedTensors } from '../pipeline/model/graph.ts';
import { describeAxis, inferPermutationSpec } from '../pipeline/model/permspec.ts';
import { Architecture } from '../contracts/index.ts';
import { nodeHost } from '../pipeline/runtime/nodeHost.ts';
import { openPath, readStructured, UsageError } from './files.ts';

export const INSPECT_USAGE = 'basin-merge inspect PATH [--json] [--input C,H,W] [--architecture FILE|JSON]';

export interface InspectResult {
  path: string;
  format: string;
  notes: string[];
  tensors: { name: string; dtype: string; shape: number[]; bytes: number }[];
  architecture: ArchitectureReport | null;
  permutations: { name: string; size: number; axes: string[] }[];
  problems: { code: string; message: string }[];
}

/** --architecture: inline JSON, or a JSON / YAML file holding an architecture or a whole request. */
async function architectureOption(value: string): Promise<unknown> {
  let v: unknown;
  if (value.trimStart().startsWith('{')) {
    try {
      v = JSON.parse(value);
    } catch (e) {
      throw new UsageError(`bad_request: --architecture is not valid JSON (${(e as Error).message})`);
    }
  } else v = await readStructured(value);
  const request = v as { architecture?: unknown; models?: unknown };
  return request && typeof request === 'object' && 'architecture' in request && 'models' in request ? request.architecture : v;
}

function parseInput(value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  const dims = value.split(/[,x ]+/).filter(Boolean).map(Number);
  if (!dims.length || dims.length > 3 || !dims.every((d) => Number.isInteger(d) && d > 0)) throw new UsageError(`bad_request: --input "${value}" is not a shape like 3,224,224`);
  return dims;
}

/** NaN / infinite counts per float tensor (reads every tensor once). */
async function nonFinite(ck: Checkpoint): Promise<{ code: string; message: string }[]> {
  const out = [];
  for (const [name, info] of ck.tensors) {
    const t = await info.read();
    if (t.kind !== 'float') continue;
    let bad = 0;
    for (const v of t.data) if (!Number.isFinite(v)) bad++;
    if (bad) out.push({ code: 'non_finite_weights', message: `tensor "${name}" holds ${bad} NaN or infinite value${bad === 1 ? '' : 's'}` });
  }
  return out;
}

export async function inspectCheckpoint(path: string, options: { architecture?: unknown; input?: number[] }): Promise<InspectResult> {
  const ck = await openCheckpoint(await openPath(path), path, nodeHost.archives);
  try {
    const problems: InspectResult['problems'] = [];
    let architecture: ArchitectureReport | null = null;
    if (options.architecture !== undefined) {
      const parsed = Architecture.safeParse(options.architecture);
      if (!parsed.success) throw new UsageError(`validation_failed: ${issuesLine(describeIssues(parsed.error.issues, options.architecture).map((e) => ({ ...e, path: `architecture${e.path ? '.' + e.path : ''}` })))}`);
      architecture = { source: 'request', notes: [], architecture: options.architecture as Record<string, unknown> };
    } else {
      try {
        const d = detectArchitecture({ tensors: ck.tensors, config: ck.config, topology: ck.topology }, { sampleShape: options.input });
        if (d.prefix) stripPrefix(ck, d.prefix, 'a wrapper\'s attribute, left out of the detected architecture');
        architecture = { source: d.source, family: d.family, notes: d.notes, architecture: d.architecture };
      } catch (e) {
        if (!(e instanceof EngineError)) throw e;
        problems.push({ code: e.code, message: e.message });
      }
    }
    let permutations: InspectResult['permutations'] = [];
    if (architecture) {
      const shapes = checkpointShapes(ck);
      try {
        const graph = buildGraph(architecture.architecture, shapes);
        permutations = inferPermutationSpec(graph).spaces.map((s) => ({ name: s.name, size: s.size, axes: s.axes.map(describeAxis) }));
        const unused = unusedTensors(graph, shapes);
        if (unused.length) problems.push({ code: 'unused_tensors', message: `${unused.length} tensor${unused.length === 1 ? '' : 's'} the architecture does not read: ${unused.join(', ')}` });
      } catch (e) {
        if (!(e instanceof ModelError)) throw e;
        problems.push({ code: e.code, message: e.message });
      }
    }
    problems.push(...(await nonFinite(ck)));
    return {
      path, format: ck.format, notes: ck.notes,
      tensors: [...ck.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.bytes })),
      architecture, permutations, problems,
    };
  } finally {
    await ck.close();
  }
}

const size = (n: number) => (n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);

function render(r: InspectResult): string {
  const lines: string[] = [];
  const total = r.tensors.reduce((a, t) => a + t.bytes, 0);
  lines.push(`${r.path}`, `  format        ${r.format}`);
  for (const n of r.notes) lines.push(`  note          ${n}`);
  lines.push(`  tensors       ${r.tensors.length} (${size(total)})`);
  const w = Math.min(60, Math.max(4, ...r.tensors.map((t) => t.name.length)));
  lines.push(`    ${'name'.padEnd(w)}  dtype  ${'shape'.padEnd(20)}  bytes`);
  for (const t of r.tensors) lines.push(`    ${t.name.padEnd(w)}  ${t.dtype.padEnd(5)}  ${`[${t.shape.join(', ')}]`.padEnd(20)}  ${t.bytes}`);
  const a = r.architecture;
  if (a) {
    lines.push(`  architecture  ${a.source === 'request' ? 'as given' : `${a.family} (read from ${a.source})`}`);
    for (const n of a.notes) lines.push(`    note: ${n}`);
    const json = JSON.stringify(a.architecture);
    const layers = a.architecture.layers;
    lines.push(`    ${json.length > 400 && Array.isArray(layers) ? `${JSON.stringify({ ...a.architecture, layers: `[${layers.length} layers: --json prints them]` })}` : json}`);
  } else lines.push('  architecture  not detected (see problems)');
  if (r.permutations.length) {
    lines.push(`  permutations  ${r.permutations.length} spaces`);
    for (const p of r.permutations) lines.push(`    ${p.name.padEnd(5)} ${String(p.size).padStart(6)}  ${p.axes.slice(0, 4).join(', ')}${p.axes.length > 4 ? `, ... (${p.axes.length} axes)` : ''}`);
  }
  lines.push(`  problems      ${r.problems.length ? '' : 'none'}`.trimEnd());
  for (const p of r.problems) lines.push(`    ${p.code}: ${p.message}`);
  return lines.join('\n');
}

/** The command: prints the result (text, or JSON with --json); 0 whether or not it found problems. */
export async function inspect(path: string, values: { json?: boolean; architecture?: string; input?: string }): Promise<number> {
  const architecture = values.architecture === undefined ? undefined : await architectureOption(values.architecture);
  const result = await inspectCheckpoint(path, { architecture, input: parseInput(values.input) });
  console.log(values.json ? JSON.stringify(result, null, 2) : render(result));
  return 0;
}
