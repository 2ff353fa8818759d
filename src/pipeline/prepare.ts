import type { DatasetRef, LocalMergeRequest } from '../contracts/index.ts';
import { datasetFromTensors, loadBuiltin, normalizeDataset, subset, type Dataset } from './io/datasets.ts';
import { MergeError, ModelError } from './errors.ts';
import { featuresOf, sizeOf } from './layers/shape.ts';
import { buildGraph, unusedTensors, type ModelGraph, type TensorShapes } from './model/graph.ts';
import { alignmentMethods, learnedOptions } from './align/methods.ts';
import { resolveCorrection } from './merge.ts';
import { readHeader, readSafetensors, type ByteSource } from './io/safetensors.ts';
import type { PackageFiles } from './runtime/host.ts';
import type { StateDict } from './model/tensor.ts';
import { numel } from './model/tensor.ts';

/** How the caller reaches a reference: the CLI opens files, the runner S3 objects. */
export type OpenSource = (ref: Exclude<DatasetRef, { builtin: string }> | LocalMergeRequest['models'][number], what: string) => Promise<ByteSource>;

export interface PreparedMerge {
  graph: ModelGraph;
  models: StateDict[];
  evaluation: Dataset;
  calibration: Dataset;
  unusedTensors: string[];
  warnings: string[];
  /** a short name per model (file, upload id or object), for the report's title */
  modelNames: string[];
}

type Ref = LocalMergeRequest['models'][number];
/** What a reader calls an input: its file or object name, or its upload id. */
export function refLabel(ref: Ref | DatasetRef): string {
  if ('builtin' in ref) return `${ref.builtin} ${ref.split}${ref.normalize ? ', normalised' : ''}`;
  const where = 'upload' in ref ? ref.upload : 'uri' in ref ? ref.uri : 'url' in ref ? new URL(ref.url).pathname : ref.path;
  return where.split('/').filter(Boolean).pop() ?? where;
}

const CALIBRATION_DEFAULT_LIMIT = 5000;

async function loadModel(open: OpenSource, ref: LocalMergeRequest['models'][number], index: number, architecture: unknown): Promise<{ graph: ModelGraph; state: StateDict; unused: string[] }> {
  const src = await open(ref, `models.${index}`);
  try {
    const header = await readHeader(src);
    const shapes: TensorShapes = new Map([...header.entries].map(([k, e]) => [k, { shape: e.shape, kind: /^F|^BF/.test(e.dtype) ? 'float' as const : 'int' as const }]));
    let graph: ModelGraph;
    try {
      graph = buildGraph(architecture, shapes);
    } catch (e) {
      if (e instanceof ModelError) throw new ModelError(e.code, `models.${index}: ${e.message}`);
      throw e;
    }
    // only what the graph reads: unused tensors are listed, never loaded
    const names = [...graph.expected].filter(([k, v]) => !v.optional || shapes.has(k)).map(([k]) => k);
    const { tensors } = await readSafetensors(src, names);
    return { graph, state: tensors, unused: unusedTensors(graph, shapes) };
  } finally {
    await src.close?.();
  }
}

async function loadDataset(open: OpenSource, files: PackageFiles, ref: DatasetRef, what: string, graph: ModelGraph): Promise<Dataset> {
  let ds: Dataset;
  if ('builtin' in ref) {
    ds = await loadBuiltin(files, ref.builtin, ref.split, ref.limit);
  } else {
    const src = await open(ref, what);
    try {
      const { tensors } = await readSafetensors(src, ['x', 'y']);
      ds = datasetFromTensors(tensors.get('x')!, tensors.get('y')!, what);
    } finally {
      await src.close?.();
    }
    if (ref.limit !== undefined) ds = subset(ds, ref.limit);
  }
  // built-ins are channel-first whatever the layout; files are in the layout's order
  if (ref.normalize) ds = normalizeDataset(ds, ref.normalize, !('builtin' in ref) && graph.layout === 'tfjs');
  const need = sizeOf(graph.input);
  if (numel(ds.sampleShape) !== need) {
    throw new MergeError('dataset_shape_mismatch', `${what}: samples have shape [${ds.sampleShape.join(', ')}] (${numel(ds.sampleShape)} values); the architecture's input needs ${need}`);
  }
  return ds;
}

/**
 * Resolve a validated request into engine inputs: graphs checked against every checkpoint, data
 * loaded. `open` reaches references (the CLI opens files, the runner S3 objects); `files` reads the
 * built-in datasets' packages (nodeHost.packageFiles on Node).
 */
export async function prepareMerge(request: LocalMergeRequest, open: OpenSource, files: PackageFiles): Promise<PreparedMerge> {
  const loaded = [];
  for (const [i, ref] of request.models.entries()) loaded.push(await loadModel(open, ref, i, request.architecture));
  const graph = loaded[0].graph;
  const warnings: string[] = [];
  const evaluationRef = request.data.evaluation;
  const evaluation = await loadDataset(open, files, evaluationRef, 'data.evaluation', graph);
  const correction = resolveCorrection(request.repair.method, graph);
  const needsCalibration = alignmentMethods[request.alignment.method].needsData(learnedOptions(request.alignment)) || correction !== 'none';
  let calibrationRef: DatasetRef | undefined = request.data.calibration;
  if (!calibrationRef && needsCalibration) {
    if ('builtin' in evaluationRef) calibrationRef = { builtin: evaluationRef.builtin, split: 'train', limit: CALIBRATION_DEFAULT_LIMIT, normalize: evaluationRef.normalize };
    else warnings.push('no data.calibration given: the evaluation data is used to calibrate, so the reported barriers are optimistic');
  }
  const calibration = calibrationRef ? await loadDataset(open, files, calibrationRef, 'data.calibration', graph) : evaluation;
  const labelMax = evaluation.y.reduce((m, v) => Math.max(m, v), 0);
  const classes = featuresOf(graph.byId.get(graph.output)!.shape);
  if (labelMax >= classes) throw new MergeError('label_out_of_range', `data.evaluation: label ${labelMax} is out of range for a net with ${classes} outputs`);
  return {
    graph,
    models: loaded.map((l) => l.state),
    evaluation: { ...evaluation, name: refLabel(evaluationRef) },
    calibration: { ...calibration, name: refLabel(calibrationRef ?? evaluationRef) },
    unusedTensors: loaded[0].unused,
    warnings,
    modelNames: request.models.map(refLabel),
  };
}
