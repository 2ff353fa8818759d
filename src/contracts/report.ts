import { z } from 'zod';
import { AlignmentMethod, Variant } from './mergeRequest.ts';

export const Barrier = z.object({ mid: z.number(), max: z.number(), argmax: z.number() });
export const VariantReport = z.object({
  loss: z.array(z.number()),
  accuracy: z.array(z.number()),
  barrier: z.object({ loss: Barrier, accuracy: Barrier }),
  /** repaired variant only: which correction produced it */
  method: z.enum(['repair', 'reset']).optional(),
  /** repaired variant only: the layers corrected (REPAIR's sites; the BatchNorm layers RESET re-estimates) */
  sites: z.array(z.string()).optional(),
});
export const PermutationReport = z.object({ name: z.string(), size: z.number().int(), axes: z.array(z.string()) });
export const SiteIssue = z.object({ site: z.string(), alpha: z.number(), code: z.string(), message: z.string() });

/** How each model's checkpoint was read. */
export const CheckpointReport = z.object({ format: z.string(), notes: z.array(z.string()) });
/** Where the architecture came from: the request, or what was detected in the first checkpoint and how. */
export const ArchitectureReport = z.object({
  source: z.enum(['request', 'config.json', 'model.json', 'tensor names']),
  /** the family recognised, e.g. "torchvision / timm ResNet-50" */
  family: z.string().optional(),
  notes: z.array(z.string()),
  /** the architecture as request JSON: put it in a request to pin or edit it */
  architecture: z.record(z.string(), z.unknown()),
});

export const Report = z.object({
  alphas: z.array(z.number()),
  variants: z.object({ naive: VariantReport, aligned: VariantReport.optional(), repaired: VariantReport.optional() }),
  /** relative loss-barrier (max) reductions; null where the denominator barrier is not positive */
  reduction: z.object({ alignment: z.number().nullable(), repair: z.number().nullable() }),
  alignment: z.object({
    method: AlignmentMethod,
    strategy: z.enum(['first', 'mergemany']),
    iterations: z.number().int(),
    permutations: z.array(PermutationReport),
    /** per model after the first: fraction of units each permutation left in place */
    identityFraction: z.array(z.number()).optional(),
    /** learned methods (ste, sinkhorn), per model after the first: the monitored loss at each step */
    lossTrace: z.array(z.array(z.number())).optional(),
  }),
  timings: z.object({ load: z.number(), align: z.number(), repair: z.number(), sweep: z.number(), total: z.number() }),
  /** the tfjs backend (gradients of the learned alignments, weight matching's products) */
  backend: z.string(),
  /** the engine of the forward passes (evaluation, REPAIR/RESET and activation statistics) */
  engine: z.object({ name: z.enum(['onnxruntime', 'tfjs']), device: z.string(), threads: z.number().int().optional() }).optional(),
  merged: z.object({ alpha: z.number(), variant: Variant }),
  models: z.number().int(),
  /** a short name per model (file, object or upload id), for titles */
  modelNames: z.array(z.string()).optional(),
  evaluation: z.object({
    samples: z.number().int(),
    calibrationSamples: z.number().int(),
    /** what the barriers were measured on, e.g. `fashion-mnist test` or a file name */
    dataset: z.string().optional(),
    calibrationDataset: z.string().optional(),
  }),
  unusedTensors: z.array(z.string()),
  checkpoints: z.array(CheckpointReport).optional(),
  architecture: ArchitectureReport.optional(),
  warnings: z.array(z.string()),
  siteIssues: z.array(SiteIssue),
});
export type Report = z.infer<typeof Report>;
export type VariantReport = z.infer<typeof VariantReport>;
export type Barrier = z.infer<typeof Barrier>;
export type CheckpointReport = z.infer<typeof CheckpointReport>;
export type ArchitectureReport = z.infer<typeof ArchitectureReport>;
