import type { ArchitectureReport, CheckpointReport, DatasetRef, LocalMergeRequest } from '../contracts/index.ts';
import { datasetFromTensors, DatasetError, loadBuiltin, normalizeDataset, subset, type Dataset } from './io/datasets.ts';
import { EngineError, MergeError, ModelError } from './errors.ts';
import { featuresOf, type FeatureShape } from './layers/shape.ts';
import { buildGraph, unusedTensors, type ModelGraph } from './model/graph.ts';
import { alignmentMethods, learnedOptions } from './align/methods.ts';
import { resolveCorrection } from './merge.ts';
import { readSafetensors } from './io/safetensors.ts';
import type { ArchiveReaders } from './io/archive.ts';
import type { InputHost, PackageFiles } from './runtime/host.ts';
import type { StateDict } from './model/tensor.ts';
import { numel } from './model/tensor.ts';
import { allHavePrefix, checkpointShapes, openCheckpoint, readFinite, stripPrefix, type Checkpoint } from './io/checkpoint.ts';
import { isFileTree, type Input } from './io/fileTree.ts';
import { detectArchitecture } from './io/detect/index.ts';

/** How the caller reaches a reference: the CLI opens files and folders, the runner S3 objects and prefixes. */
export type OpenSource = (ref: Exclude<DatasetRef, { builtin: string }> | LocalMergeRequest['models'][number], what: string) => Promise<Input>;

export interface PreparedMerge {
  graph: ModelGraph;
  models: StateDict[];
  evaluation: Dataset;
  calibration: Dataset;
  unusedTensors: string[];
  warnings: string[];
  /** a short name per model (file, upload id or object), for the report's title */
  modelNames: string[];
  /** how the inputs were read and where the architecture came from, for the report */
  provenance: { checkpoints: CheckpointReport[]; architecture: ArchitectureReport };
}

type Ref = LocalMergeRequest['models'][number];
/** What a reader calls an input: its file or object name, or its upload id. */
export function refLabel(ref: Ref | DatasetRef): string {
  if ('builtin' in ref) return `${ref.builtin} ${ref.split}${ref.normalize ? ', normalised' : ''}`;
  const where = 'upload' in ref ? ref.upload : 'uri' in ref ? ref.uri : 'url' in ref ? new URL(ref.url).pathname : ref.path;
  return where.split('/').filter(Boolean).pop() ?? where;
}

const CALIBRATION_DEFAULT_LIMIT = 5000;

/** Errors about one input carry its field path (`models.1: ...`) whatever part of the engine raised them. */
async function about<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof EngineError && !e.message.startsWith(what)) e.message = `${what}: ${e.message}`;
    throw e;
  }
}

/** A dataset as stored: a built-in, or one safetensors file with "x" and "y". */
async function readDataset(open: OpenSource, files: PackageFiles, ref: DatasetRef, what: string): Promise<Dataset> {
  if ('builtin' in ref) return loadBuiltin(files, ref.builtin, ref.split, ref.limit);
  return about(what, async () => {
    const input = await open(ref, what);
    if (isFileTree(input)) {
      await input.close?.();
      throw new DatasetError('bad_dataset', 'a dataset is one safetensors file with tensors "x" and "y", not a folder');
    }
    let ds: Dataset;
    try {
      const { tensors, metadata } = await readSafetensors(input, ['x', 'y']);
      ds = datasetFromTensors(tensors.get('x')!, tensors.get('y')!, what, metadata.classes === undefined ? undefined : Number(metadata.classes));
    } finally {
      await input.close?.();
    }
    return ref.limit !== undefined ? subset(ds, ref.limit) : ds;
  });
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;
const squeezed = (s: readonly number[]) => s.filter((d) => d !== 1);

/** The input's shape as the architecture states it, in the layout's order ([C, H, W] or, in tfjs, [H, W, C]). */
function layoutDims(s: FeatureShape, layout: ModelGraph['layout']): number[] {
  if (s.kind === 'flat') return [s.features];
  if (s.kind === 'tokens') return [s.tokens, s.features];
  return layout === 'tfjs' ? [s.height, s.width, s.channels] : [s.channels, s.height, s.width];
}

/**
 * Samples must have the input's shape in the layout's order (size-1 axes aside, which never change
 * the order of values), or the request must say `data.reshape`.
 */
function checkSamples(graph: ModelGraph, ds: Dataset, what: string, reshape: boolean): void {
  const input = layoutDims(graph.input, graph.layout);
  const need = numel(input);
  if (numel(ds.sampleShape) !== need) {
    throw new MergeError('dataset_shape_mismatch', `${what}: samples have shape ${fmt(ds.sampleShape)} (${numel(ds.sampleShape)} values); the architecture's input ${fmt(input)} needs ${need}`);
  }
  const a = squeezed(ds.sampleShape);
  const b = squeezed(input);
  if (!reshape && (a.length !== b.length || a.some((d, i) => d !== b[i]))) {
    throw new MergeError('dataset_shape_mismatch', `${what}: samples have shape ${fmt(ds.sampleShape)}, the architecture's input is ${fmt(input)}; set "data": {"reshape": true} to feed each sample as ${fmt(input)} in its stored order, or give the architecture that input`);
  }
}

/**
 * A dataset as the graph reads it: normalised when the reference asks (files in the layout's
 * order, built-ins channel-first whatever the layout), its samples checked against the input, named
 * for the report.
 */
function fitDataset(graph: ModelGraph, raw: Dataset, ref: DatasetRef, what: string, reshape: boolean): Dataset {
  const ds = ref.normalize ? normalizeDataset(raw, ref.normalize, !('builtin' in ref) && graph.layout === 'tfjs') : raw;
  checkSamples(graph, ds, what, reshape);
  return { ...ds, name: refLabel(ref) };
}

/** One output per class of the evaluation data: a graph that stops early is refused, not scored at 0 %. */
function checkClasses(graph: ModelGraph, ds: Dataset, what: string): void {
  const outputs = featuresOf(graph.byId.get(graph.output)!.shape);
  const labelMax = ds.y.reduce((m, v) => Math.max(m, v), 0);
  if (labelMax >= outputs) throw new MergeError('label_out_of_range', `${what}: label ${labelMax} is out of range for a net with ${outputs} outputs`);
  if (outputs !== ds.classes) {
    throw new MergeError('class_count_mismatch', `${what}: the net has ${outputs} outputs (layer "${graph.output}") and the data has ${ds.classes} classes; a graph that stops before its classifier merges the wrong thing${ds.classesDeclared ? '' : ' (if some classes are absent from this file, record the count in its safetensors metadata: {"classes": "N"})'}`);
  }
}

async function openModels(open: OpenSource, request: LocalMergeRequest, archives: ArchiveReaders): Promise<Checkpoint[]> {
  const opened: Checkpoint[] = [];
  try {
    for (const [i, ref] of request.models.entries()) {
      const what = `models.${i}`;
      opened.push(await about(what, async () => openCheckpoint(await open(ref, what), what, archives)));
    }
    return opened;
  } catch (e) {
    for (const ck of opened) await ck.close();
    throw e;
  }
}

/**
 * The request's architecture, or the one read from the first checkpoint (said how in the report);
 * a name prefix detection saw through is cut from every checkpoint that has it.
 */
function chooseArchitecture(request: LocalMergeRequest, checkpoints: Checkpoint[], sampleShape: number[]): ArchitectureReport {
  if (request.architecture) return { source: 'request', notes: [], architecture: request.architecture as Record<string, unknown> };
  const first = checkpoints[0];
  const d = detectArchitecture({ tensors: first.tensors, config: first.config, topology: first.topology }, { sampleShape });
  if (d.prefix) for (const ck of checkpoints) if (allHavePrefix(ck, d.prefix)) stripPrefix(ck, d.prefix, 'a wrapper\'s attribute, left out of the detected architecture');
  return { source: d.source, family: d.family, notes: d.notes, architecture: d.architecture };
}

/** Every checkpoint's graph, the first one's failure to fit a detected architecture said as a detection failure. */
async function buildGraphs(arch: ArchitectureReport, checkpoints: Checkpoint[]): Promise<ModelGraph[]> {
  const graphs: ModelGraph[] = [];
  for (const [i, ck] of checkpoints.entries()) {
    graphs.push(await about(`models.${i}`, async () => {
      try {
        return buildGraph(arch.architecture, checkpointShapes(ck));
      } catch (e) {
        // a detected family that does not fit its own checkpoint is a detection failure, not a model mismatch
        if (i === 0 && arch.source !== 'request' && e instanceof ModelError) throw new MergeError('architecture_not_detected', `detected ${arch.family}, but ${e.message}; give "architecture" in the request`);
        throw e;
      }
    }));
  }
  return graphs;
}

/**
 * Resolve a validated request into engine inputs: checkpoints opened (archives through the host's
 * readers), the architecture given or detected, the graph checked against each checkpoint, data
 * loaded. `open` reaches references (the CLI opens files and folders, the runner S3 objects and
 * prefixes); `host` reads the built-in datasets' packages and archives (nodeHost on Node).
 */
export async function prepareMerge(request: LocalMergeRequest, open: OpenSource, host: InputHost): Promise<PreparedMerge> {
  const checkpoints = await openModels(open, request, host.archives);
  try {
    const warnings: string[] = [];
    const { reshape } = request.data;
    const evaluationRef = request.data.evaluation;
    const stored = await readDataset(open, host.packageFiles, evaluationRef, 'data.evaluation');
    const arch = chooseArchitecture(request, checkpoints, stored.sampleShape);
    const graphs = await buildGraphs(arch, checkpoints);
    const graph = graphs[0];
    const evaluation = fitDataset(graph, stored, evaluationRef, 'data.evaluation', reshape);
    checkClasses(graph, evaluation, 'data.evaluation');
    const unused = checkpoints.map((ck, i) => unusedTensors(graphs[i], checkpointShapes(ck)));
    for (const [i, names] of unused.entries()) {
      if (!names.length) continue;
      const list = `${names.slice(0, 12).join(', ')}${names.length > 12 ? `, ... (${names.length} in all)` : ''}`;
      if (!request.allowUnusedTensors) throw new MergeError('unused_tensors', `models.${i}: ${names.length} tensor${names.length === 1 ? '' : 's'} the architecture does not read: ${list}; a graph that leaves layers out merges a different model. If they are not part of the model (EMA copies, auxiliary heads), set "allowUnusedTensors": true`);
      warnings.push(`models.${i}: ${names.length} tensor${names.length === 1 ? ' is' : 's are'} not read by the architecture and left out of the merge: ${list}`);
    }
    // only what the graph reads: unused tensors are listed, never loaded
    const models: StateDict[] = [];
    for (const [i, ck] of checkpoints.entries()) {
      const what = `models.${i}`;
      const names = [...graphs[i].expected].filter(([k, v]) => !v.optional || ck.tensors.has(k)).map(([k]) => k);
      const state: StateDict = new Map();
      for (const name of names) state.set(name, await about(what, () => readFinite(ck, name, what)));
      models.push(state);
    }
    const correction = resolveCorrection(request.repair.method, graph);
    const needsCalibration = alignmentMethods[request.alignment.method].needsData(learnedOptions(request.alignment)) || correction !== 'none';
    let calibrationRef: DatasetRef | undefined = request.data.calibration;
    if (!calibrationRef && needsCalibration) {
      if ('builtin' in evaluationRef) calibrationRef = { builtin: evaluationRef.builtin, split: 'train', limit: CALIBRATION_DEFAULT_LIMIT, normalize: evaluationRef.normalize };
      else warnings.push('no data.calibration given: the evaluation data is used to calibrate, so the reported barriers are optimistic');
    }
    const calibration = calibrationRef
      ? fitDataset(graph, await readDataset(open, host.packageFiles, calibrationRef, 'data.calibration'), calibrationRef, 'data.calibration', reshape)
      : evaluation;
    return {
      graph, models, evaluation, calibration, unusedTensors: unused[0], warnings,
      modelNames: request.models.map(refLabel),
      provenance: { checkpoints: checkpoints.map((ck) => ({ format: ck.format, notes: ck.notes })), architecture: arch },
    };
  } finally {
    for (const ck of checkpoints) await ck.close();
  }
}
