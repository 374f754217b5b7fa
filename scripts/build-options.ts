import type { BuildOptions } from 'esbuild';

/**
 * How each Lambda function is bundled beyond the common options, as
 * serverless.yml's custom.esbuild gives them to serverless-esbuild
 * (test/e2e/deploy.test.ts compares the two). Split: what is imported dynamically
 * (KMS, TUF, the SDK's other credential providers) goes to chunks that load
 * only when used, in a folder named after the bundle (serverless-esbuild keeps
 * from each function's zip what starts with another bundle's name and a dot).
 * ESM builds of packages first: esbuild tree-shakes those, and the AWS SDK's
 * CommonJS builds hold every command of a client.
 */
export const FUNCTION_OPTIONS: BuildOptions = {
  splitting: true,
  chunkNames: 'index.chunks/[name]-[hash]',
  outExtension: { '.js': '.mjs' },
  mainFields: ['module', 'main'],
};
