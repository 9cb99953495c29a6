export * from './errors.ts';
export * from './flags.ts';
export * from './load.ts';
export * from './plugin-config.ts';
export * from './schema.ts';
