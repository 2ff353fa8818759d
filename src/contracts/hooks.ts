import { z } from 'zod';
import { Job } from './job.ts';
import { MergeRequest } from './mergeRequest.ts';
import { RemoteRef } from './references.ts';

const Segment = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/);

/**
 * POST /v1/hooks/training-run: a training pipeline reports a finished run. Runs that name the same
 * group are collected; when `group.size` runs have arrived, the merge starts with their checkpoints
 * as `models` (in run-id order) and the rest of the request from `group.merge`.
 */
export const TrainingRunEvent = z
  .strictObject({
    type: z.literal('training_run.finished'),
    run: Segment,
    checkpoint: RemoteRef,
    group: z.strictObject({
      id: Segment,
      size: z.number().int().min(2).max(16),
      merge: MergeRequest.omit({ models: true }),
    }),
  })
  .meta({ id: 'TrainingRunEvent' });
export type TrainingRunEvent = z.infer<typeof TrainingRunEvent>;

export const TrainingRunAccepted = z
  .strictObject({
    group: z.string(),
    members: z.number().int(),
    size: z.number().int(),
    /** the merge job, once the group is complete */
    job: Job.nullable(),
  })
  .meta({ id: 'TrainingRunAccepted' });
