import { open } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { SigwatchError } from '../errors.ts';
import type { NoMatchBehaviour } from '../policy/evaluate.ts';
import type { StdoutFormat } from '../notify/stdout.ts';

/**
 * The configuration of a local run (`sigwatch invoke --config FILE`): where
 * policies are, how registries are reached, how verdicts are printed.
 *
 *   policies: ./policies | s3://BUCKET/PREFIX/
 *   noMatch: deny | allow | warn
 *   registries:
 *     mirror: { "111122223333.dkr.ecr.eu-west-1.amazonaws.com": "127.0.0.1:5000", "*": "…" }
 *     insecure: ["127.0.0.1:5000"]
 *     config: ./docker-config.json
 *   notifier: { format: json | line }
 *
 * Validation is strict: an unknown field or a bad value is a problem naming its
 * path, never silently ignored (a half-applied config verifies against the
 * wrong registry). YAML is read with the failsafe schema (every scalar a
 * string); JSON is YAML, so a JSON file reads the same way.
 */

export interface LocalConfig {
  /** A file, a folder or `s3://BUCKET/PREFIX/`; relative paths resolved against the config file's folder. */
  policies: string;
  noMatch: NoMatchBehaviour;
  registries: {
    /** Registry host (lower case) or `*` → the host to contact instead. */
    mirror: Record<string, string>;
    insecure: string[];
    /** Docker config.json with credentials. */
    config?: string;
  };
  notifier: { format: StdoutFormat };
}

export interface LocalConfigProblem {
  /** Field path, e.g. `registries.mirror["*"]`; `(root)` for the whole document. */
  path: string;
  message: string;
}

export type LocalConfigResult = { ok: true; config: LocalConfig } | { ok: false; problems: LocalConfigProblem[] };

/** Far more than any real local config. */
export const MAX_LOCAL_CONFIG_BYTES = 256 * 1024;
const MAX_ALIASES = 50;
const MAX_MIRRORS = 100;

const NO_MATCH = ['deny', 'allow', 'warn'] as const;
const FORMATS = ['json', 'line'] as const;
const TOP_FIELDS = ['policies', 'noMatch', 'registries', 'notifier'];
const REGISTRIES_FIELDS = ['mirror', 'insecure', 'config'];
const NOTIFIER_FIELDS = ['format'];

// host or host:port: DNS labels or an IPv4 address, an optional port.
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOST_RE = new RegExp(`^${LABEL}(?:\\.${LABEL})*(?::(\\d{1,5}))?$`);

export function defaultLocalConfig(): LocalConfig {
  return { policies: './policies', noMatch: 'deny', registries: { mirror: {}, insecure: [] }, notifier: { format: 'json' } };
}

/** `host` checked as a registry host[:port]; undefined when fine. */
function hostProblem(host: string): string | undefined {
  const m = HOST_RE.exec(host);
  if (!m || host.length > 255) return `expected a registry host[:port], got ${JSON.stringify(host.slice(0, 80))}`;
  if (m[1] !== undefined && (Number(m[1]) < 1 || Number(m[1]) > 65535)) return `port ${m[1]} is out of range`;
  return undefined;
}

const fieldPath = (base: string, key: string) => {
  const part = /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
  return base === '' ? part.replace(/^\./, '') : `${base}${part}`;
};

/**
 * Config text → LocalConfig, or every problem found. `baseDir` resolves
 * relative paths (the folder of the config file).
 */
export function parseLocalConfig(text: string, baseDir = '.'): LocalConfigResult {
  const problems: LocalConfigProblem[] = [];
  const problem = (path: string, message: string) => void problems.push({ path: path || '(root)', message });
  const doc = parseDocument(text, { schema: 'failsafe', uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    return { ok: false, problems: doc.errors.map((e) => ({ path: '(root)', message: `not valid YAML or JSON: ${e.message.split('\n')[0]}` })) };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (err) {
    return { ok: false, problems: [{ path: '(root)', message: `not usable: ${(err as Error).message.split('\n')[0]}` }] };
  }
  // Tags or anchors on keys could make non-string keys; read only plain mappings of strings.
  if (!plainTree(doc.contents)) return { ok: false, problems: [{ path: '(root)', message: 'mapping keys must be plain strings' }] };

  const config = defaultLocalConfig();
  const top = mapping(value, '', problem);
  if (!top) return { ok: false, problems };
  unknownFields(top, TOP_FIELDS, '', problem);

  if (top.policies !== undefined) {
    const p = str(top.policies, 'policies', problem);
    if (p !== undefined) {
      if (p.trim() === '') problem('policies', 'must not be empty');
      else config.policies = /^[a-z][a-z0-9+.-]*:\/\//i.test(p) || isAbsolute(p) ? p : resolve(baseDir, p);
    }
  }
  if (top.noMatch !== undefined) {
    const v = enumOf(top.noMatch, 'noMatch', NO_MATCH, problem);
    if (v) config.noMatch = v;
  }
  if (top.registries !== undefined) {
    const r = mapping(top.registries, 'registries', problem);
    if (r) {
      unknownFields(r, REGISTRIES_FIELDS, 'registries', problem);
      if (r.mirror !== undefined) {
        const m = mapping(r.mirror, 'registries.mirror', problem);
        if (m) {
          const entries = Object.entries(m);
          if (entries.length > MAX_MIRRORS) problem('registries.mirror', `${entries.length} entries, over the limit of ${MAX_MIRRORS}`);
          for (const [from, to] of entries.slice(0, MAX_MIRRORS)) {
            const at = fieldPath('registries.mirror', from);
            if (from !== '*') {
              const bad = hostProblem(from);
              if (bad) problem(at, `key: ${bad} or "*"`);
            }
            const target = str(to, at, problem);
            if (target === undefined) continue;
            const bad = hostProblem(target);
            if (bad) problem(at, bad);
            else config.registries.mirror[from.toLowerCase()] = target.toLowerCase();
          }
        }
      }
      if (r.insecure !== undefined) {
        if (!Array.isArray(r.insecure)) problem('registries.insecure', `expected a list of host[:port], got ${kindOf(r.insecure)}`);
        else {
          r.insecure.forEach((h: unknown, i) => {
            const at = `registries.insecure[${i}]`;
            const host = str(h, at, problem);
            if (host === undefined) return;
            const bad = hostProblem(host);
            if (bad) problem(at, bad);
            else config.registries.insecure.push(host.toLowerCase());
          });
        }
      }
      if (r.config !== undefined) {
        const c = str(r.config, 'registries.config', problem);
        if (c !== undefined) {
          if (c.trim() === '') problem('registries.config', 'must not be empty');
          else config.registries.config = resolve(baseDir, c);
        }
      }
    }
  }
  if (top.notifier !== undefined) {
    const n = mapping(top.notifier, 'notifier', problem);
    if (n) {
      unknownFields(n, NOTIFIER_FIELDS, 'notifier', problem);
      if (n.format === undefined) problem('notifier.format', 'missing field; expected one of json, line');
      else {
        const f = enumOf(n.format, 'notifier.format', FORMATS, problem);
        if (f) config.notifier.format = f;
      }
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, config };
}

/**
 * The config at `path`, or the defaults when no path is given. Throws CONFIG
 * (exit 2) for an unreadable file or one with problems, listing them all.
 */
export async function loadLocalConfig(path: string | undefined): Promise<LocalConfig> {
  if (path === undefined) return defaultLocalConfig();
  let text: string;
  try {
    text = await readCapped(path, MAX_LOCAL_CONFIG_BYTES);
  } catch (err) {
    if (err instanceof SigwatchError) throw err;
    throw new SigwatchError('CONFIG', `cannot read config ${path}: ${(err as Error).message}`);
  }
  const result = parseLocalConfig(text, dirname(resolve(path)));
  if (!result.ok) {
    throw new SigwatchError('CONFIG', `config ${path} is invalid:\n${result.problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`);
  }
  return result.config;
}

/** Where requests for `registry` go: its mirror, the `*` mirror, or itself. */
export function mirrorFor(config: LocalConfig, registry: string): string {
  const mirror = config.registries.mirror;
  const key = registry.toLowerCase();
  return (Object.hasOwn(mirror, key) ? mirror[key] : Object.hasOwn(mirror, '*') ? mirror['*'] : undefined) ?? registry;
}

/** A file's text, refusing one over `maxBytes` without reading it all. */
export async function readCapped(path: string, maxBytes: number): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new SigwatchError('CONFIG', `${path} is not a regular file`);
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes) throw new SigwatchError('CONFIG', `${path} is over the ${maxBytes}-byte limit`);
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    await handle.close();
  }
}

type Problem = (path: string, message: string) => void;

function kindOf(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `a ${typeof v}`;
}

function mapping(v: unknown, path: string, problem: Problem): Record<string, unknown> | undefined {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Map)) return v as Record<string, unknown>;
  problem(path, `expected a mapping, got ${kindOf(v)}`);
  return undefined;
}

function str(v: unknown, path: string, problem: Problem): string | undefined {
  if (typeof v === 'string') return v;
  problem(path, `expected a string, got ${kindOf(v)}`);
  return undefined;
}

function enumOf<T extends string>(v: unknown, path: string, allowed: readonly T[], problem: Problem): T | undefined {
  const s = str(v, path, problem);
  if (s === undefined) return undefined;
  if ((allowed as readonly string[]).includes(s)) return s as T;
  problem(path, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(s.slice(0, 80))}`);
  return undefined;
}

function unknownFields(o: Record<string, unknown>, known: readonly string[], base: string, problem: Problem): void {
  for (const key of Object.keys(o)) {
    if (!known.includes(key)) problem(fieldPath(base, key), `unknown field; expected one of ${known.join(', ')}`);
  }
}

/** Every mapping key in the document is a plain scalar string. */
function plainTree(node: Node | null | undefined | unknown): boolean {
  if (isMap(node)) return node.items.every((pair) => isScalar(pair.key) && typeof pair.key.value === 'string' && plainTree(pair.value));
  if (isSeq(node)) return node.items.every((item) => plainTree(item));
  return true;
}
