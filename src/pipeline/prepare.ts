import type { ArchitectureReport, CheckpointReport, DatasetRef, LocalMergeRequest } from '../contracts/index.ts';
import { datasetFromTensors, DatasetError, loadBuiltin, subset, type Dataset } from './io/datasets.ts';
import { MergeError } from './errors.ts';
import { buildGraph, ModelError, unusedTensors, type ModelGraph } from './model/graph.ts';
import { alignmentMethods } from './align/methods.ts';
import { resolveCorrection } from './merge.ts';
import { readSafetensors, SafetensorsError } from './io/safetensors.ts';
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
  /** how the inputs were read and where the architecture came from, for the report */
  provenance: { checkpoints: CheckpointReport[]; architecture: ArchitectureReport };
}

const CALIBRATION_DEFAULT_LIMIT = 5000;

/** Errors about one input carry its field path (`models.1: ...`) whatever part of the engine raised them. */
async function about<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const engine = e instanceof MergeError || e instanceof ModelError || e instanceof SafetensorsError || e instanceof DatasetError;
    if (engine && !e.message.startsWith(what)) e.message = `${what}: ${e.message}`;
    throw e;
  }
}

async function loadDataset(open: OpenSource, ref: DatasetRef, what: string): Promise<Dataset> {
  if ('builtin' in ref) return loadBuiltin(ref.builtin, ref.split, ref.limit);
  return about(what, async () => {
    const input = await open(ref, what);
    if (isFileTree(input)) {
      await input.close?.();
      throw new MergeError('bad_dataset', 'a dataset is one safetensors file with tensors "x" and "y", not a folder');
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

/**
 * Samples must have the input's shape in the layout's order (size-1 axes aside, which never change
 * the order of values), or the request must say `data.reshape`.
 */
function checkSamples(graph: ModelGraph, ds: Dataset, what: string, reshape: boolean): void {
  const [c, h, w] = graph.input;
  const input = graph.input.length === 3 && graph.layout === 'tfjs' ? [h, w, c] : graph.input;
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

/** One output per class of the evaluation data: a graph that stops early is refused, not scored at 0 %. */
function checkClasses(graph: ModelGraph, ds: Dataset, what: string): void {
  const outputs = graph.byId.get(graph.output)!.shape[0];
  const labelMax = ds.y.reduce((m, v) => Math.max(m, v), 0);
  if (labelMax >= outputs) throw new MergeError('label_out_of_range', `${what}: label ${labelMax} is out of range for a net with ${outputs} outputs`);
  if (outputs !== ds.classes) {
    throw new MergeError('class_count_mismatch', `${what}: the net has ${outputs} outputs (layer "${graph.output}") and the data has ${ds.classes} classes; a graph that stops before its classifier merges the wrong thing${ds.classesDeclared ? '' : ' (if some classes are absent from this file, record the count in its safetensors metadata: {"classes": "N"})'}`);
  }
}

async function openModels(open: OpenSource, request: LocalMergeRequest): Promise<Checkpoint[]> {
  const opened: Checkpoint[] = [];
  try {
    for (const [i, ref] of request.models.entries()) {
      const what = `models.${i}`;
      opened.push(await about(what, async () => openCheckpoint(await open(ref, what), what)));
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

/** Resolve a validated request into engine inputs: checkpoints opened, the graph checked against each, data loaded. */
export async function prepareMerge(request: LocalMergeRequest, open: OpenSource): Promise<PreparedMerge> {
  const checkpoints = await openModels(open, request);
  try {
    const warnings: string[] = [];
    const evaluation = await loadDataset(open, request.data.evaluation, 'data.evaluation');
    const arch = chooseArchitecture(request, checkpoints, evaluation.sampleShape);
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
    const graph = graphs[0];
    checkSamples(graph, evaluation, 'data.evaluation', request.data.reshape);
    checkClasses(graph, evaluation, 'data.evaluation');
    const unused = checkpoints.map((ck, i) => unusedTensors(graphs[i], checkpointShapes(ck)));
    for (const [i, names] of unused.entries()) {
      if (!names.length) continue;
      const list = `${names.slice(0, 12).join(', ')}${names.length > 12 ? `, ... (${names.length} in all)` : ''}`;
      if (!request.allowUnusedTensors) throw new MergeError('unused_tensors', `models.${i}: ${names.length} tensor${names.length === 1 ? '' : 's'} the architecture does not read: ${list}; a graph that leaves layers out merges a different model. If they are not part of the model (EMA copies, auxiliary heads), set "allowUnusedTensors": true`);
      warnings.push(`models.${i}: ${names.length} tensor${names.length === 1 ? ' is' : 's are'} not read by the architecture and left out of the merge: ${list}`);
    }
    const models: StateDict[] = [];
    for (const [i, ck] of checkpoints.entries()) {
      const what = `models.${i}`;
      const names = [...graphs[i].expected].filter(([k, v]) => !v.optional || ck.tensors.has(k)).map(([k]) => k);
      const state: StateDict = new Map();
      for (const name of names) state.set(name, await about(what, () => readFinite(ck, name, what)));
      models.push(state);
    }
    const correction = resolveCorrection(request.repair.method, graph);
    const needsCalibration = alignmentMethods[request.alignment.method].needsData(request.alignment) || correction !== 'none';
    let calibration = evaluation;
    if (request.data.calibration) {
      calibration = await loadDataset(open, request.data.calibration, 'data.calibration');
      checkSamples(graph, calibration, 'data.calibration', request.data.reshape);
    } else if (needsCalibration) {
      const ev = request.data.evaluation;
      if ('builtin' in ev) {
        calibration = await loadBuiltin(ev.builtin, 'train', CALIBRATION_DEFAULT_LIMIT);
      } else {
        warnings.push('no data.calibration given: the evaluation data is used to calibrate, so the reported barriers are optimistic');
      }
    }
    return {
      graph, models, evaluation, calibration, unusedTensors: unused[0], warnings,
      provenance: { checkpoints: checkpoints.map((ck) => ({ format: ck.format, notes: ck.notes })), architecture: arch },
    };
  } finally {
    for (const ck of checkpoints) await ck.close();
  }
}
