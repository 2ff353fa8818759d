export * from './architecture.ts';
export * from './references.ts';
export * from './mergeRequest.ts';
export * from './report.ts';
export * from './job.ts';
export * from './problem.ts';
export * from './upload.ts';
export * from './hooks.ts';
