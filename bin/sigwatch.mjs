#!/usr/bin/env node
// Runs the built CLI when present (fast start), else the TypeScript source
// directly (Node >= 22.18 strips types), so `npx sigwatch` works right after `npm ci`.
// An older Node is told which one sigwatch needs, without a stack trace.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { nodeProblem } from './node-version.mjs';

const { engines } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const problem = nodeProblem(process.versions.node, engines && engines.node);
if (problem) {
  process.stderr.write(`${problem}\n`);
  process.exit(2);
}
const built = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
await import(existsSync(built) ? built : '../src/cli/bin.ts');
