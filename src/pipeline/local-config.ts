import { open } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { SigwatchError } from '../errors.ts';
import { fieldPath, FieldReader, formatProblem, readYaml, type FieldProblem, type Fields } from '../field-reader.ts';
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

export type LocalConfigResult = { ok: true; config: LocalConfig } | { ok: false; problems: FieldProblem[] };

/** Far more than any real local config. */
const MAX_LOCAL_CONFIG_BYTES = 256 * 1024;
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

function defaultLocalConfig(): LocalConfig {
  return { policies: './policies', noMatch: 'deny', registries: { mirror: {}, insecure: [] }, notifier: { format: 'json' } };
}

/** `host` checked as a registry host[:port]; undefined when fine. */
function hostProblem(host: string): string | undefined {
  const m = HOST_RE.exec(host);
  if (!m || host.length > 255) return `expected a registry host[:port], got ${JSON.stringify(host.slice(0, 80))}`;
  if (m[1] !== undefined && (Number(m[1]) < 1 || Number(m[1]) > 65535)) return `port ${m[1]} is out of range`;
  return undefined;
}

/**
 * Config text → LocalConfig, or every problem found. `baseDir` resolves
 * relative paths (the folder of the config file).
 */
export function parseLocalConfig(text: string, baseDir = '.'): LocalConfigResult {
  const r = parseInvokeConfig(text, baseDir);
  if (!r.ok) return r;
  if (r.config.sigwatch !== undefined) return { ok: false, problems: [{ path: '', message: 'a sigwatch.yaml, not a local configuration' }] };
  return { ok: true, config: r.config.local };
}

/**
 * Either shape of a local run's configuration (see the top of this file). A
 * document with any sigwatch.yaml section is a sigwatch.yaml: its `local:`
 * section (every field optional) is read here, the rest is returned for
 * accounts/config.ts, which validates it as strictly as the deployed functions do.
 */
function parseInvokeConfig(text: string, baseDir = '.'): { ok: true; config: InvokeConfig } | { ok: false; problems: FieldProblem[] } {
  const read = readYaml(text, { maxBytes: MAX_LOCAL_CONFIG_BYTES, maxAliases: MAX_ALIASES });
  if (!read.ok) return read;
  const r = new FieldReader();
  const config = defaultLocalConfig();
  const root = r.mapping(read.value, '', null);
  if (!root) return { ok: false, problems: r.problems };
  const isSigwatch = SIGWATCH_SECTIONS.some((k) => Object.hasOwn(root, k));
  let top: Fields = root;
  let sigwatch: string | undefined;
  if (isSigwatch) {
    const local = root.local === undefined ? {} : r.mapping(root.local, 'local', SIGWATCH_LOCAL_FIELDS);
    if (!local) return { ok: false, problems: r.problems };
    top = local;
    read.doc.delete('local');
    sigwatch = read.doc.toString();
  } else r.mapping(top, '', TOP_FIELDS);
  const at = (path: string) => (isSigwatch ? `local.${path}` : path);
  const path = (field: string, resolveIt: (v: string) => string) => {
    const v = r.string(top, field, at(field), false);
    return v === undefined ? undefined : resolveIt(v);
  };

  if (!isSigwatch) {
    const policies = path('policies', (p) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(p) || isAbsolute(p) ? p : resolve(baseDir, p)));
    if (policies !== undefined) config.policies = policies;
    const noMatch = r.oneOf(top, 'noMatch', 'noMatch', NO_MATCH);
    if (noMatch) config.noMatch = noMatch;
  } else {
    const bucket = path('bucket', (v) => resolve(baseDir, v));
    config.bucket = bucket ?? resolve(baseDir);
  }
  const pullSecrets = path('pullSecrets', (v) => resolve(baseDir, v));
  if (pullSecrets !== undefined) config.pullSecrets = pullSecrets;
  const registries = top.registries === undefined ? undefined : r.mapping(top.registries, at('registries'), REGISTRIES_FIELDS);
  if (registries) readRegistries(r, registries, at('registries'), baseDir, config.registries);
  const notifier = top.notifier === undefined ? undefined : r.mapping(top.notifier, at('notifier'), NOTIFIER_FIELDS);
  if (notifier) {
    const format = r.oneOf(notifier, 'format', at('notifier.format'), FORMATS, true);
    if (format) config.notifier.format = format;
  }
  return r.problems.length > 0 ? { ok: false, problems: r.problems } : { ok: true, config: { local: config, ...(sigwatch !== undefined ? { sigwatch } : {}) } };
}

function readRegistries(r: FieldReader, fields: Fields, where: string, baseDir: string, out: LocalConfig['registries']): void {
  const mirror = fields.mirror === undefined ? undefined : r.mapping(fields.mirror, `${where}.mirror`, null);
  if (mirror) {
    const entries = Object.entries(mirror);
    if (entries.length > MAX_MIRRORS) r.problem(`${where}.mirror`, `${entries.length} entries, over the limit of ${MAX_MIRRORS}`);
    for (const [from, to] of entries.slice(0, MAX_MIRRORS)) {
      const at = fieldPath(`${where}.mirror`, from);
      const badKey = from === '*' ? undefined : hostProblem(from);
      if (badKey) r.problem(at, `key: ${badKey} or "*"`);
      const target = r.text(to, at);
      if (target === undefined) continue;
      const bad = hostProblem(target);
      if (bad) r.problem(at, bad);
      else out.mirror[from.toLowerCase()] = target.toLowerCase();
    }
  }
  const insecure = fields.insecure === undefined ? undefined : r.list(fields.insecure, `${where}.insecure`, false);
  insecure?.forEach((h, i) => {
    const at = `${where}.insecure[${i}]`;
    const host = r.text(h, at);
    if (host === undefined) return;
    const bad = hostProblem(host);
    if (bad) r.problem(at, bad);
    else out.insecure.push(host.toLowerCase());
  });
  const config = r.string(fields, 'config', `${where}.config`, false);
  if (config !== undefined) out.config = resolve(baseDir, config);
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
    throw new SigwatchError('CONFIG', `config ${path} is invalid:\n${result.problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`);
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
