#!/usr/bin/env node
// Runs the built CLI when present (fast start), else the TypeScript source
// directly (Node >= 22.18 strips types), so `npx sigwatch` works right after `npm ci`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
await import(existsSync(built) ? built : '../src/cli/bin.ts');
