import { open } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { SigwatchError } from '../errors.ts';
import type { NoMatchBehaviour } from '../policy/types.ts';
import type { StdoutFormat } from '../notify/stdout.ts';

/**
 * The configuration of a local run (`sigwatch invoke --config FILE`), in one
 * of two shapes:
 *
 * - the real `sigwatch.yaml` (groups, associations, topics), optionally with
 *   a `local:` section of overrides, so that an event is replayed through
 *   the operator's own routing: verdicts go to the owning group's topic;
 * - a local configuration alone, for one policy set and no routing:
 *
 *   policies: ./policies | s3://BUCKET/PREFIX/      (local configuration only)
 *   noMatch: deny | allow | warn                     (local configuration only)
 *   bucket: ./bucket                                 (sigwatch.yaml only: a folder laid out as the config bucket)
 *   registries:
 *     mirror: { "111122223333.dkr.ecr.eu-west-1.amazonaws.com": "127.0.0.1:5000", "*": "…" }
 *     insecure: ["127.0.0.1:5000"]
 *     config: ./docker-config.json
 *   pullSecrets: ./pull-secrets                      (Kubernetes Secret manifests)
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
  /** A folder of Kubernetes Secret manifests that `signaturePullSecrets` name (with a sigwatch.yaml: one subfolder per group `secretsPrefix`). */
  pullSecrets?: string;
  /** With a sigwatch.yaml: the folder that stands for the config bucket (group policies under `policies/<group>/`); the config file's folder unless set. */
  bucket?: string;
  notifier: { format: StdoutFormat };
}

/** A local run's configuration: the local settings, and the sigwatch.yaml text when the file was one. */
export interface InvokeConfig {
  local: LocalConfig;
  /** The sigwatch.yaml part (without `local:`), parsed by the caller with accounts/config.ts. */
  sigwatch?: string;
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
const TOP_FIELDS = ['policies', 'noMatch', 'registries', 'pullSecrets', 'notifier'];
/** The overrides a sigwatch.yaml's `local:` section may hold: routing, noMatch and policy locations come from sigwatch.yaml itself. */
const SIGWATCH_LOCAL_FIELDS = ['bucket', 'registries', 'pullSecrets', 'notifier'];
/** Sections only a sigwatch.yaml has. */
const SIGWATCH_SECTIONS = ['operators', 'groups', 'associations', 'defaults', 'reverify'];
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
  const r = parseInvokeConfig(text, baseDir);
  if (!r.ok) return r;
  if (r.config.sigwatch !== undefined) return { ok: false, problems: [{ path: '(root)', message: 'a sigwatch.yaml, not a local configuration' }] };
  return { ok: true, config: r.config.local };
}

/**
 * Either shape of a local run's configuration (see the top of this file). A
 * document with any sigwatch.yaml section is a sigwatch.yaml: its `local:`
 * section (every field optional) is read here, the rest is returned for
 * accounts/config.ts, which validates it as strictly as the deployed functions do.
 */
export function parseInvokeConfig(text: string, baseDir = '.'): { ok: true; config: InvokeConfig } | { ok: false; problems: LocalConfigProblem[] } {
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
  const root = mapping(value, '', problem);
  if (!root) return { ok: false, problems };
  const isSigwatch = SIGWATCH_SECTIONS.some((k) => Object.hasOwn(root, k));
  let top: Record<string, unknown> = root;
  let base = '';
  let sigwatch: string | undefined;
  if (isSigwatch) {
    base = 'local';
    const local = root.local === undefined ? {} : mapping(root.local, 'local', problem);
    if (!local) return { ok: false, problems };
    top = local;
    unknownFields(top, SIGWATCH_LOCAL_FIELDS, base, problem);
    doc.delete('local');
    sigwatch = doc.toString();
  } else unknownFields(top, TOP_FIELDS, '', problem);
  const at = (path: string) => (base === '' ? path : `${base}.${path}`);

  if (!isSigwatch && top.policies !== undefined) {
    const p = str(top.policies, 'policies', problem);
    if (p !== undefined) {
      if (p.trim() === '') problem('policies', 'must not be empty');
      else config.policies = /^[a-z][a-z0-9+.-]*:\/\//i.test(p) || isAbsolute(p) ? p : resolve(baseDir, p);
    }
  }
  if (!isSigwatch && top.noMatch !== undefined) {
    const v = enumOf(top.noMatch, 'noMatch', NO_MATCH, problem);
    if (v) config.noMatch = v;
  }
  for (const [field, key] of [
    ['bucket', 'bucket'],
    ['pullSecrets', 'pullSecrets'],
  ] as const) {
    if (top[field] === undefined || (field === 'bucket' && !isSigwatch)) continue;
    const v = str(top[field], at(field), problem);
    if (v === undefined) continue;
    if (v.trim() === '') problem(at(field), 'must not be empty');
    else config[key] = resolve(baseDir, v);
  }
  if (top.registries !== undefined) {
    const r = mapping(top.registries, at('registries'), problem);
    if (r) {
      unknownFields(r, REGISTRIES_FIELDS, at('registries'), problem);
      if (r.mirror !== undefined) {
        const m = mapping(r.mirror, at('registries.mirror'), problem);
        if (m) {
          const entries = Object.entries(m);
          if (entries.length > MAX_MIRRORS) problem(at('registries.mirror'), `${entries.length} entries, over the limit of ${MAX_MIRRORS}`);
          for (const [from, to] of entries.slice(0, MAX_MIRRORS)) {
            const at2 = fieldPath(at('registries.mirror'), from);
            if (from !== '*') {
              const bad = hostProblem(from);
              if (bad) problem(at2, `key: ${bad} or "*"`);
            }
            const target = str(to, at2, problem);
            if (target === undefined) continue;
            const bad = hostProblem(target);
            if (bad) problem(at2, bad);
            else config.registries.mirror[from.toLowerCase()] = target.toLowerCase();
          }
        }
      }
      if (r.insecure !== undefined) {
        if (!Array.isArray(r.insecure)) problem(at('registries.insecure'), `expected a list of host[:port], got ${kindOf(r.insecure)}`);
        else {
          r.insecure.forEach((h: unknown, i) => {
            const where = at(`registries.insecure[${i}]`);
            const host = str(h, where, problem);
            if (host === undefined) return;
            const bad = hostProblem(host);
            if (bad) problem(where, bad);
            else config.registries.insecure.push(host.toLowerCase());
          });
        }
      }
      if (r.config !== undefined) {
        const c = str(r.config, at('registries.config'), problem);
        if (c !== undefined) {
          if (c.trim() === '') problem(at('registries.config'), 'must not be empty');
          else config.registries.config = resolve(baseDir, c);
        }
      }
    }
  }
  if (top.notifier !== undefined) {
    const n = mapping(top.notifier, at('notifier'), problem);
    if (n) {
      unknownFields(n, NOTIFIER_FIELDS, at('notifier'), problem);
      if (n.format === undefined) problem(at('notifier.format'), 'missing field; expected one of json, line');
      else {
        const f = enumOf(n.format, at('notifier.format'), FORMATS, problem);
        if (f) config.notifier.format = f;
      }
    }
  }
  if (isSigwatch && config.bucket === undefined) config.bucket = resolve(baseDir);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, config: { local: config, ...(sigwatch !== undefined ? { sigwatch } : {}) } };
}

/**
 * The config at `path`, or the defaults when no path is given. Throws CONFIG
 * (exit 2) for an unreadable file or one with problems, listing them all.
 */
export async function loadLocalConfig(path: string | undefined): Promise<InvokeConfig> {
  if (path === undefined) return { local: defaultLocalConfig() };
  let text: string;
  try {
    text = await readCapped(path, MAX_LOCAL_CONFIG_BYTES);
  } catch (err) {
    if (err instanceof SigwatchError) throw err;
    throw new SigwatchError('CONFIG', `cannot read config ${path}: ${(err as Error).message}`);
  }
  const result = parseInvokeConfig(text, dirname(resolve(path)));
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
