import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { build } from 'esbuild';
import { builtinsWithoutFacade } from '../../scripts/esbuild-plugins.ts';

const work = mkdtempSync(join(tmpdir(), 'sigwatch-esbuild-'));
after(() => rmSync(work, { recursive: true, force: true }));

async function bundle(source: string): Promise<string> {
  const entry = join(work, `entry-${Math.random().toString(36).slice(2)}.ts`);
  writeFileSync(entry, source);
  const r = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    write: false,
    logLevel: 'silent',
    plugins: [builtinsWithoutFacade],
  });
  return r.outputFiles[0]!.text;
}

describe('builtinsWithoutFacade', () => {
  it('reads an imported built-in with process.getBuiltinModule, and the bundle works', async () => {
    const code = await bundle(
      `import { createHash } from 'node:crypto';\nimport { join } from 'path';\nimport http, { Agent } from 'node:http';\nexport const out = [createHash('sha256').update('x').digest('hex'), join('a', 'b'), typeof Agent, http.STATUS_CODES[404]];\n`,
    );
    assert.doesNotMatch(code, /from\s*["'](node:)?(crypto|path|http)["']/, 'no ESM import of a built-in is left');
    assert.match(code, /process\.getBuiltinModule\("node:http"\)/);
    const file = join(work, 'out.mjs');
    writeFileSync(file, code);
    const { out } = (await import(file)) as { out: unknown[] };
    assert.deepEqual(out, ['2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881', join('a', 'b'), 'function', 'Not Found']);
  });

  it("does not read node:http's undici-backed exports (what its ESM facade would load), and fails the build for them", async () => {
    const code = await bundle(`import { request } from 'node:http';\nexport const r = request;\n`);
    assert.doesNotMatch(code, /WebSocket/);
    await assert.rejects(bundle(`import { WebSocket } from 'node:http';\nexport const w = WebSocket;\n`), /No matching export .* for import "WebSocket"/);
  });
});
