/**
 * esbuild plugins every bundle is built with: scripts/build.ts passes them
 * to esbuild, serverless.yml's custom.esbuild to serverless-esbuild (as
 * `plugins: scripts/esbuild-plugins.ts`, this module's default export).
 */
import { isBuiltin } from 'node:module';
import type { Plugin } from 'esbuild';

const NAMESPACE = 'node-builtin-without-facade';
/** Exports whose first read loads undici. */
const UNDICI_BACKED = new Set(['node:http WebSocket', 'node:http CloseEvent', 'node:http MessageEvent']);

/**
 * An ESM `import` of a Node built-in, read with `process.getBuiltinModule`
 * instead. Node answers an ESM import of a built-in with a facade that reads
 * every export, and reading node:http's lazy `WebSocket` loads undici: an
 * `import { request } from 'node:http'` costs about 50 ms of a cold start,
 * `process.getBuiltinModule('node:http')` about 5 (bench/cold-start.ts).
 * The named exports are the module's own at build time, less node:http's
 * three that undici backs (nothing bundled imports them; an import of a name
 * that is not among the exports fails the build rather than becoming
 * undefined).
 */
export const builtinsWithoutFacade: Plugin = {
  name: 'builtins-without-facade',
  setup(build) {
    build.onResolve({ filter: /^(node:)?[a-z_]+(\/[a-z_]+)?$/ }, (args) => {
      if (args.kind !== 'import-statement' || !isBuiltin(args.path)) return undefined;
      return { path: args.path.startsWith('node:') ? args.path : `node:${args.path}`, namespace: NAMESPACE };
    });
    build.onLoad({ filter: /.*/, namespace: NAMESPACE }, ({ path }) => {
      const mod = process.getBuiltinModule(path) as Record<string, unknown>;
      const names = Object.keys(mod).filter((k) => k !== 'default' && /^[A-Za-z_$][\w$]*$/.test(k) && !UNDICI_BACKED.has(`${path} ${k}`));
      const read = `process.getBuiltinModule(${JSON.stringify(path)})`;
      return {
        contents: `const m = ${read};\nexport default m;\nexport const { ${names.join(', ')} } = m;\n`,
        loader: 'js',
      };
    });
  },
};

export default [builtinsWithoutFacade];
