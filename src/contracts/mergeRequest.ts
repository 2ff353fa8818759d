import { z } from 'zod';
import { Architecture } from './architecture.ts';
import { AnyRef, BuiltinDataset, RemoteRef, UploadRef, UriRef, UrlRef, PathRef } from './references.ts';

const limit = { limit: z.number().int().min(1).max(1_000_000).optional() };

export const AlignmentMethod = z.enum(['weight', 'activation', 'ste', 'sinkhorn', 'none']);
export type AlignmentMethod = z.infer<typeof AlignmentMethod>;
export const RepairMethod = z.enum(['repair', 'reset', 'none', 'auto']);
export type RepairMethod = z.infer<typeof RepairMethod>;
export const Variant = z.enum(['naive', 'aligned', 'repaired']);
export type Variant = z.infer<typeof Variant>;

export const LearnedLoss = z.enum(['l2', 'midpoint', 'random']);
export type LearnedLoss = z.infer<typeof LearnedLoss>;
/** Options only the learned methods read: naming them with another method is a mistake, not a no-op. */
const LEARNED_ONLY = ['maxSteps', 'learningRate', 'patience'] as const;
const SINKHORN_ONLY = ['temperature', 'sinkhornIterations', 'loss'] as const;

export const AlignmentOptions = z.strictObject({
  method: AlignmentMethod.default('weight'),
  seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
  maxIterations: z.number().int().min(1).max(1000).default(100),
  /** N models: align each to the first, or MergeMany (each to the mean of the others, repeated) */
  strategy: z.enum(['first', 'mergemany']).default('first'),
  /**
   * ste / sinkhorn: optimiser steps per model pair. Bounded because each step is a forward and
   * backward pass: 1000 steps is about 3 min (ste) to 8 min (sinkhorn, task loss) on a 6x128 MLP on
   * one wasm thread, and about 20-35 min on a 3x512 MLP.
   */
  maxSteps: z.number().int().min(1).max(1000).optional().meta({ description: 'ste / sinkhorn: optimiser steps per model pair; default 200 (ste), 150 (sinkhorn)' }),
  /** ste / sinkhorn: Adam step size; default 1e-3 for ste (on weights), 0.1 for sinkhorn (on assignment logits) */
  learningRate: z.number().positive().max(10).optional().meta({ description: 'ste / sinkhorn: Adam step size; default 0.001 (ste), 0.1 (sinkhorn)' }),
  /** ste / sinkhorn: stop after this many steps without a better loss */
  patience: z.number().int().min(1).max(1000).optional().meta({ description: 'ste / sinkhorn: stop after this many steps without a better loss; default 50 (ste), 30 (sinkhorn)' }),
  /** sinkhorn: divides the assignment logits; lower is closer to a hard permutation */
  temperature: z.number().min(0.01).max(100).optional().meta({ description: 'sinkhorn: divides the assignment logits; default 1' }),
  /** sinkhorn: row/column normalisations per step */
  sinkhornIterations: z.number().int().min(1).max(200).optional().meta({ description: 'sinkhorn: row/column normalisations per step; default 20' }),
  /** sinkhorn: data-free L2 distance to the first model, or the task loss at alpha 0.5 or a random alpha per step */
  loss: LearnedLoss.optional().meta({ description: 'sinkhorn: l2 (data-free, default), midpoint (task loss at alpha 0.5) or random (task loss at a random alpha per step)' }),
}).superRefine((o, ctx) => {
  const misplaced = [
    ...(o.method === 'ste' || o.method === 'sinkhorn' ? [] : LEARNED_ONLY),
    ...(o.method === 'sinkhorn' ? [] : SINKHORN_ONLY),
  ].filter((k) => o[k] !== undefined);
  for (const k of misplaced) ctx.addIssue({ code: 'custom', path: [k], message: `alignment.${k} does not apply to alignment.method "${o.method}"` });
});
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
export const WebhookTarget = z.strictObject({ url: z.url({ protocol: /^https?$/ }) });

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
    alignment: AlignmentOptions.prefault({}),
    repair: RepairOptions.prefault({}),
    sweep: SweepOptions.prefault({}),
    output: OutputOptions.prefault({}),
    compute: ComputeOptions.prefault({}),
    webhook: WebhookTarget.optional(),
  });
}

const remoteFile = z.union([UploadRef.extend(limit), UriRef.extend(limit), UrlRef.extend(limit)]);
const anyFile = z.union([UploadRef.extend(limit), UriRef.extend(limit), UrlRef.extend(limit), PathRef.extend(limit)]);

/** The API's merge request: models and datasets are uploads, s3:// objects or https URLs. */
export const MergeRequest = requestSchema(RemoteRef, remoteFile);
/** The CLI's merge request: the same, plus local `{"path": ...}` references. */
export const LocalMergeRequest = requestSchema(AnyRef, anyFile);
export type MergeRequest = z.infer<typeof MergeRequest>;
export type LocalMergeRequest = z.infer<typeof LocalMergeRequest>;
export type MergeRequestInput = z.input<typeof MergeRequest>;
export type DatasetRef = LocalMergeRequest['data']['evaluation'];
