export * from './architecture.ts';
export * from './references.ts';
export * from './mergeRequest.ts';
export * from './report.ts';
