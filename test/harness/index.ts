export * from './registry.ts';
export * from './images.ts';
export * from './cosign.ts';
export * from './keyless.ts';
export * from './layout.ts';
export * from './samples.ts';
export * from './bundles.ts';
export * from './token-server.ts';
