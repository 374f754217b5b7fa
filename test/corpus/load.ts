import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Reads the cases of one kind of the hostile-input corpus (see generate.ts):
 * every `*.json` in `test/corpus/<kind>/`, with `$REPEAT(n)content$END`
 * expanded so that huge inputs need not be stored.
 */

export interface CorpusCase<T = Record<string, unknown>> {
  name: string;
  why: string;
  expect: T;
  input: Record<string, unknown>;
}

const root = dirname(fileURLToPath(import.meta.url));
const REPEAT = /\$REPEAT\((\d+)\)([\s\S]*?)\$END/g;
/** `$LADDER(n)$END`: n block-mapping lines, each indented one space more than the last. */
const LADDER = /\$LADDER\((\d+)\)\$END/g;

export function expand(value: unknown): unknown {
  if (typeof value === 'string') {
    return value
      .replace(REPEAT, (_, n: string, content: string) => content.repeat(Number(n)))
      .replace(LADDER, (_, n: string) => Array.from({ length: Number(n) }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n'));
  }
  if (Array.isArray(value)) return value.map(expand);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expand(v)]));
  return value;
}

export function loadCorpus<T = Record<string, unknown>>(kind: string): CorpusCase<T>[] {
  const dir = join(root, kind);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const raw = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;
      const { why, expect, ...input } = expand(raw) as Record<string, unknown>;
      if (typeof why !== 'string' || typeof expect !== 'object' || expect === null) throw new Error(`corpus ${kind}/${file}: needs "why" and "expect"`);
      return { name: file.replace(/\.json$/, ''), why, expect: expect as T, input };
    });
}

/** Placeholders (`$NAME`) in strings, replaced longest name first so `$A_B` wins over `$A`. */
export function fill(value: unknown, vars: Record<string, string>): unknown {
  const names = Object.keys(vars).sort((a, b) => b.length - a.length);
  const one = (s: string) => names.reduce((out, n) => out.split(`$${n}`).join(vars[n]!), s);
  if (typeof value === 'string') return one(value);
  if (Array.isArray(value)) return value.map((v) => fill(v, vars));
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, vars)]));
  return value;
}
