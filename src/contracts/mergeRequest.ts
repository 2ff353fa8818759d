import { z } from 'zod';
import { Architecture } from './architecture.ts';
import { AnyRef, BuiltinDataset, datasetOptions, FetchableUrl, RemoteRef, UploadRef, UriRef, UrlRef, PathRef } from './references.ts';

export const AlignmentMethod = z.enum(['weight', 'activation', 'ste', 'sinkhorn', 'none']);
export type AlignmentMethod = z.infer<typeof AlignmentMethod>;
export const RepairMethod = z.enum(['repair', 'reset', 'none', 'auto']);
export type RepairMethod = z.infer<typeof RepairMethod>;
export const Variant = z.enum(['naive', 'aligned', 'repaired']);
export type Variant = z.infer<typeof Variant>;

export const LearnedLoss = z.enum(['l2', 'midpoint', 'random']);
export type LearnedLoss = z.infer<typeof LearnedLoss>;

/** Options every method takes. */
const commonAlignment = {
  seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
  maxIterations: z.number().int().min(1).max(1000).default(100),
  /** N models: align each to the first, or MergeMany (each to the mean of the others, repeated) */
  strategy: z.enum(['first', 'mergemany']).default('first'),
};
/**
 * ste / sinkhorn. Bounded because each step is a forward and backward pass: 1000 steps is about 3 min
 * (ste) to 8 min (sinkhorn, task loss) on a 6x128 MLP on one wasm thread, and 20-35 min on a 3x512 MLP.
 */
const learnedAlignment = {
  maxSteps: z.number().int().min(1).max(1000).optional().meta({ description: 'optimiser steps per model pair; default 200 (ste), 150 (sinkhorn)' }),
  learningRate: z.number().positive().max(10).optional().meta({ description: 'Adam step size; default 0.001 (ste, on weights), 0.1 (sinkhorn, on assignment logits)' }),
  patience: z.number().int().min(1).max(1000).optional().meta({ description: 'stop after this many steps without a better loss; default 50 (ste), 30 (sinkhorn)' }),
};
const sinkhornAlignment = {
  temperature: z.number().min(0.01).max(100).optional().meta({ description: 'divides the assignment logits; lower is closer to a hard permutation; default 1' }),
  sinkhornIterations: z.number().int().min(1).max(200).optional().meta({ description: 'row/column normalisations per step; default 20' }),
  loss: LearnedLoss.optional().meta({ description: 'l2 (data-free distance to the first model, default), midpoint (task loss at alpha 0.5) or random (task loss at a random alpha per step)' }),
};
/** Which methods take each option that not every method takes: for the error naming a misplaced one. */
const OPTION_OWNERS: Record<string, string[]> = {
  ...Object.fromEntries(Object.keys(learnedAlignment).map((k) => [k, ['ste', 'sinkhorn']])),
  ...Object.fromEntries(Object.keys(sinkhornAlignment).map((k) => [k, ['sinkhorn']])),
};

/**
 * One variant of the alignment union: the method's own options and nothing else, so a generated
 * client's types refuse what the server refuses. An option of another method is named as such.
 */
function alignmentVariant<M extends AlignmentMethod, S extends z.ZodRawShape>(method: M, shape: S, description: string) {
  return z.strictObject({ method: z.literal(method), ...commonAlignment, ...shape }, {
    error: (issue) => {
      if (issue.code !== 'unrecognized_keys') return undefined;
      return issue.keys
        .map((k) => (OPTION_OWNERS[k] ? `alignment.${k} does not apply to alignment.method "${method}" (only to ${OPTION_OWNERS[k].map((m) => `"${m}"`).join(' and ')})` : `alignment.${k} is not an option of alignment.method "${method}"`))
        .join('; ');
    },
  }).meta({ id: `${method[0].toUpperCase()}${method.slice(1)}Alignment`, description });
}

/**
 * `alignment`: a union keyed on `method`, which is required (so every generator can discriminate on
 * it); a request without `alignment` gets weight matching with the defaults.
 */
export const AlignmentOptions = z.discriminatedUnion('method', [
  alignmentVariant('weight', {}, 'Git Re-Basin weight matching (data-free); the default when `alignment` is absent'),
  alignmentVariant('activation', {}, 'activation matching on the calibration data'),
  alignmentVariant('ste', learnedAlignment, 'learned: straight-through estimator on the midpoint task loss'),
  alignmentVariant('sinkhorn', { ...learnedAlignment, ...sinkhornAlignment }, 'learned: Sinkhorn re-basin'),
  alignmentVariant('none', {}, 'no alignment (the naive average only)'),
], {
  error: (issue) => {
    if (issue.code !== 'invalid_union') return undefined;
    const given = (issue.input as { method?: unknown } | undefined)?.method;
    const choices = AlignmentMethod.options.map((m) => `"${m}"`).join(', ');
    return given === undefined ? `alignment.method is required: one of ${choices}` : `alignment.method must be one of ${choices}`;
  },
}).meta({ id: 'Alignment' });
export type AlignmentOptions = z.infer<typeof AlignmentOptions>;
export const RepairOptions = z.strictObject({
  method: RepairMethod.default('auto'),
  /** also correct the logits layer (off in the REPAIR paper's default) */
  logits: z.boolean().default(false),
});
export const SweepOptions = z.strictObject({ points: z.number().int().min(2).max(101).default(11) });
export const OutputOptions = z.strictObject({
  /** where on the sweep's path the returned weights sit; default 0.5 for two models, (N-1)/N (the uniform average) for N */
  alpha: z.number().min(0).max(1).optional(),
  /** which variant's weights to return; default the most corrected one the request computes */
  variant: Variant.optional(),
});
export const ComputeOptions = z.strictObject({ batchSize: z.number().int().min(1).max(65_536).default(500) });
export const WebhookTarget = z.strictObject({ url: FetchableUrl });

function requestSchema<R extends z.ZodType, F extends z.ZodType>(ref: R, files: F) {
  const dataset = z.union([BuiltinDataset, files]);
  return z.strictObject({
    models: z.array(ref).min(2).max(16),
    /** default: read from the checkpoint (Hugging Face config.json, tfjs topology, known tensor-name families) */
    architecture: Architecture.optional(),
    /** tensors the architecture does not read are an error (`unused_tensors`) unless this says they may be ignored */
    allowUnusedTensors: z.boolean().default(false),
    data: z
      .strictObject({
        /** for activation matching and REPAIR/RESET; default: the train split of a built-in evaluation set, else the evaluation data */
        calibration: dataset.optional(),
        evaluation: dataset,
        /** feed samples whose shape differs from `architecture.input` but whose size matches (e.g. [1,28,28] images into an [784] input) */
        reshape: z.boolean().default(false),
      }),
    alignment: AlignmentOptions.prefault({ method: 'weight' }),
    repair: RepairOptions.prefault({}),
    sweep: SweepOptions.prefault({}),
    output: OutputOptions.prefault({}),
    compute: ComputeOptions.prefault({}),
    webhook: WebhookTarget.optional(),
  });
}

const remoteFile = z.union([UploadRef.extend(datasetOptions), UriRef.extend(datasetOptions), UrlRef.extend(datasetOptions)]);
const anyFile = z.union([UploadRef.extend(datasetOptions), UriRef.extend(datasetOptions), UrlRef.extend(datasetOptions), PathRef.extend(datasetOptions)]);

/** The API's merge request: models and datasets are uploads, s3:// objects or https URLs. */
export const MergeRequest = requestSchema(RemoteRef, remoteFile);
/** The CLI's merge request: the same, plus local `{"path": ...}` references. */
export const LocalMergeRequest = requestSchema(AnyRef, anyFile);
export type MergeRequest = z.infer<typeof MergeRequest>;
export type LocalMergeRequest = z.infer<typeof LocalMergeRequest>;
export type MergeRequestInput = z.input<typeof MergeRequest>;
export type DatasetRef = LocalMergeRequest['data']['evaluation'];
