import type { LocalMergeRequest, Report, Variant, VariantReport } from '../contracts/index.ts';
import { alphaGrid, barrier, reduction } from './report/barrier.ts';
import type { Dataset } from './io/datasets.ts';
import { MergeError } from './errors.ts';
import type { ModelGraph } from './model/graph.ts';
import { lerpStates, meanStates } from './model/interpolate.ts';
import { alignmentMethods, learnedOptions } from './align/methods.ts';
import { correctionMethods, type Correction } from './correct/methods.ts';
import type { Evaluation, ForwardEngine } from './runtime/engine.ts';
import { tfjsEngine } from './runtime/tfjsEngine.ts';
import { describeAxis, inferPermutationSpec } from './model/permspec.ts';
import type { SiteIssue } from './correct/repair.ts';
import type { StateDict } from './model/tensor.ts';

export type MergeOptions = Pick<LocalMergeRequest, 'alignment' | 'repair' | 'sweep' | 'output' | 'compute'>;
export type Stage = 'align' | 'repair' | 'sweep' | 'output';

export interface MergeInputs {
  graph: ModelGraph;
  models: StateDict[];
  evaluation: Dataset;
  calibration: Dataset;
  options: MergeOptions;
  /** the tfjs backend (the learned alignments' gradients; weight matching's products) */
  backend: string;
  /** the forward passes without gradient; default: tfjs in batches of compute.batchSize */
  engine?: ForwardEngine;
  unusedTensors?: string[];
  warnings?: string[];
  /** a short name per model, for the report */
  modelNames?: string[];
  /** how the checkpoints were read and where the architecture came from */
  provenance?: Pick<Report, 'checkpoints' | 'architecture'>;
  /** seconds spent loading before the engine ran, for the report */
  loadSeconds?: number;
  onProgress?: (stage: Stage, fraction: number) => void;
  signal?: AbortSignal;
}

export interface MergeResult { merged: StateDict; report: Report }

const now = () => performance.now() / 1000;

/** What `repair.method` means for this net: auto picks RESET for BatchNorm nets, REPAIR otherwise. */
export function resolveCorrection(method: MergeOptions['repair']['method'], graph: ModelGraph): 'repair' | 'reset' | 'none' {
  if (method === 'auto') return graph.hasBatchNorm ? 'reset' : 'repair';
  if (method === 'reset' && !graph.hasBatchNorm) throw new MergeError('reset_requires_batchnorm', 'repair.method "reset" re-estimates BatchNorm statistics, and this net has no BatchNorm layer; use "repair"');
  return method;
}

/**
 * The whole merge: align every model to the first, sweep alpha for naive / aligned / corrected
 * interpolations, compute barriers, and return the merged weights with the report (DESIGN 4.3-4.5).
 * For N > 2 models the path runs from model 0 (alpha 0) to the mean of the others (alpha 1).
 */
export async function runMerge(inputs: MergeInputs): Promise<MergeResult> {
  const t0 = now();
  const { graph, models, evaluation, calibration, options, signal } = inputs;
  const engine = inputs.engine ?? tfjsEngine(options.compute.batchSize);
  if (models.length < 2) throw new MergeError('too_few_models', 'a merge needs at least two models');
  const progress = inputs.onProgress ?? (() => {});
  const spec = inferPermutationSpec(graph);
  const correction = resolveCorrection(options.repair.method, graph);
  const batchSize = options.compute.batchSize;
  const method = options.alignment.method;

  const hasAligned = method !== 'none';
  const outputAlpha = options.output.alpha ?? (models.length === 2 ? 0.5 : (models.length - 1) / models.length);
  const outputVariant: Variant = options.output.variant ?? (correction !== 'none' ? 'repaired' : hasAligned ? 'aligned' : 'naive');
  if ((outputVariant === 'aligned' && !hasAligned) || (outputVariant === 'repaired' && correction === 'none')) {
    throw new MergeError('variant_not_computed', `output.variant "${outputVariant}" is not computed by this request (alignment.method "${method}", repair.method "${options.repair.method}")`);
  }

  progress('align', 0);
  const tAlign = now();
  const alignment = await alignmentMethods[method].align({
    graph, spec, models, calibration, engine, batchSize, signal,
    seed: options.alignment.seed, maxIterations: options.alignment.maxIterations, strategy: options.alignment.strategy, learned: learnedOptions(options.alignment),
    progress: (f) => progress('align', f),
  });
  const alignSeconds = now() - tAlign;

  const naiveEnds: [StateDict, StateDict] = [models[0], meanStates(models.slice(1))];
  const alignedEnds: [StateDict, StateDict] = [alignment.aligned[0], meanStates(alignment.aligned.slice(1))];
  const tRepair = now();
  progress('repair', 0);
  let corrector: Correction | undefined;
  if (correction !== 'none') {
    corrector = await correctionMethods[correction].prepare({
      graph, spec, calibration, engine, signal, logits: options.repair.logits,
      sides: [[alignment.aligned[0]], alignment.aligned.slice(1)],
    });
  }
  progress('repair', 1);
  let repairSeconds = now() - tRepair;
  let repairInSweep = 0;

  const alphas = alphaGrid(options.sweep.points);
  const curves: Partial<Record<Variant, Evaluation[]>> = { naive: [] };
  if (hasAligned) curves.aligned = [];
  if (corrector) curves.repaired = [];
  const siteIssues: (SiteIssue & { alpha: number })[] = [];
  const tSweep = now();
  // the returned weights usually sit on the grid: keep that one state rather than correcting twice
  // (which would also report its site issues twice)
  let kept: StateDict | undefined;
  const corrected = async (alpha: number): Promise<StateDict> => {
    if (alpha === outputAlpha && kept) return kept;
    const t = now();
    const r = await corrector!.apply(lerpStates(alignedEnds[0], alignedEnds[1], alpha), alpha);
    repairSeconds += now() - t;
    repairInSweep += now() - t;
    siteIssues.push(...r.issues.map((i) => ({ ...i, alpha })));
    if (alpha === outputAlpha) kept = r.state;
    return r.state;
  };
  const steps = alphas.length * Object.keys(curves).length;
  let done = 0;
  const step = () => progress('sweep', ++done / steps);
  progress('sweep', 0);
  const evaluate = (state: StateDict) => engine.evaluate(graph, state, evaluation, signal);
  // the path's ends are the same nets for naive and aligned: model 0 at alpha 0 (alignment leaves
  // it as it is) and, for two models, model 1 at alpha 1 (aligned: the same net with its units
  // permuted, so the same function): each is evaluated once, as it is rather than as a lerp
  const ends = new Map<number, Promise<Evaluation>>();
  const endpoint = (alpha: number): Promise<Evaluation> | undefined => {
    if (alpha !== 0 && !(alpha === 1 && models.length === 2)) return undefined;
    if (alpha === 0 && alignedEnds[0] !== naiveEnds[0]) return undefined;
    let e = ends.get(alpha);
    if (!e) ends.set(alpha, (e = evaluate(naiveEnds[alpha])));
    return e;
  };
  const interpolated = (pair: [StateDict, StateDict], alpha: number) => endpoint(alpha) ?? evaluate(lerpStates(pair[0], pair[1], alpha));
  for (const alpha of alphas) {
    curves.naive!.push(await interpolated(naiveEnds, alpha)); step();
    if (curves.aligned) { curves.aligned.push(await interpolated(alignedEnds, alpha)); step(); }
    if (curves.repaired) { curves.repaired.push(await evaluate(await corrected(alpha))); step(); }
  }
  // the sweep's figure is evaluation alone; REPAIR/RESET passes inside it count under repair
  const sweepSeconds = now() - tSweep - repairInSweep;

  const variantReport = (evals: Evaluation[], correctionMethod?: 'repair' | 'reset'): VariantReport => {
    const loss = evals.map((e) => e.loss);
    const accuracy = evals.map((e) => e.accuracy);
    return { loss, accuracy, barrier: { loss: barrier(alphas, loss), accuracy: barrier(alphas, accuracy, true) }, ...(correctionMethod ? { method: correctionMethod, sites: corrector!.sites } : {}) };
  };
  const variants: Report['variants'] = { naive: variantReport(curves.naive!) };
  if (curves.aligned) variants.aligned = variantReport(curves.aligned);
  if (curves.repaired) variants.repaired = variantReport(curves.repaired, correction as 'repair' | 'reset');
  const alignedOrNaive = variants.aligned ?? variants.naive;

  progress('output', 0);
  const merged = outputVariant === 'naive' ? lerpStates(naiveEnds[0], naiveEnds[1], outputAlpha)
    : outputVariant === 'aligned' ? lerpStates(alignedEnds[0], alignedEnds[1], outputAlpha)
    : await corrected(outputAlpha);
  for (const t of merged.values()) {
    if (t.kind === 'float' && !t.data.every(Number.isFinite)) throw new MergeError('non_finite_result', 'the merged weights contain NaN or infinite values');
  }
  progress('output', 1);

  const identityFraction = alignment.perms.slice(1).map((ps) => {
    let same = 0, total = 0;
    for (const p of ps) { total += p.length; p.forEach((v, i) => { if (v === i) same++; }); }
    return total ? same / total : 1;
  });
  const loadSeconds = inputs.loadSeconds ?? 0;
  const report: Report = {
    alphas,
    variants,
    reduction: {
      alignment: variants.aligned ? reduction(variants.naive.barrier.loss.max, variants.aligned.barrier.loss.max) : null,
      repair: variants.repaired ? reduction(alignedOrNaive.barrier.loss.max, variants.repaired.barrier.loss.max) : null,
    },
    alignment: {
      method,
      strategy: options.alignment.strategy,
      iterations: alignment.iterations,
      permutations: spec.spaces.map((s) => ({ name: s.name, size: s.size, axes: s.axes.map(describeAxis) })),
      identityFraction,
      ...(alignment.lossTrace ? { lossTrace: alignment.lossTrace } : {}),
    },
    timings: { load: loadSeconds, align: alignSeconds, repair: repairSeconds, sweep: sweepSeconds, total: loadSeconds + now() - t0 },
    backend: inputs.backend,
    engine: engine.info,
    merged: { alpha: outputAlpha, variant: outputVariant },
    models: models.length,
    ...(inputs.modelNames ? { modelNames: inputs.modelNames } : {}),
    evaluation: { samples: evaluation.n, calibrationSamples: calibration.n, dataset: evaluation.name, calibrationDataset: calibration.name },
    unusedTensors: inputs.unusedTensors ?? [],
    ...inputs.provenance,
    warnings: inputs.warnings ?? [],
    siteIssues,
  };
  return { merged, report };
}
