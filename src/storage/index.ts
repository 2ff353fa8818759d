export * from './keys.ts';
export * from './client.ts';
export * from './store.ts';
export * from './credentials.ts';
export * from './env.ts';
