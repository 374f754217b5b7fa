#!/usr/bin/env node
// Runs the built CLI when present (fast start), else the TypeScript source
// directly (Node >= 22.18 strips types), so `npx sigwatch` works right after `npm ci`.
// An older Node is told which one sigwatch needs, without a stack trace.
import { existsSync, readFileSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath } from 'node:url';
import { nodeProblem } from './node-version.mjs';

const { engines } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const problem = nodeProblem(process.versions.node, engines && engines.node);
if (problem) {
  process.stderr.write(`${problem}\n`);
  process.exit(2);
}
// Node's compile cache (in the OS temp folder) spares a second run compiling the same code again.
module.enableCompileCache?.();
const built = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
await import(existsSync(built) ? built : '../src/cli/bin.ts');
