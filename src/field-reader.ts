import { isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';

/**
 * The one way sigwatch's own configuration files are read (sigwatch.yaml, a
 * local run's config): YAML with the failsafe schema, so that every scalar
 * is the string that was written (an account id 012345678901 stays one), and
 * every problem collected with the path of the field to fix, never the first
 * alone. ClusterImagePolicy and TrustRoot documents keep policy-controller's
 * own wording instead (src/policy/problems.ts), so that they read as
 * `kubectl apply` would print them.
 */

export interface FieldProblem {
  /** `groups[acme].topicArn`, `registries.mirror["*"]`; '' for the whole document. */
  path: string;
  message: string;
}

export type Fields = Record<string, unknown>;

export interface YamlLimits {
  maxBytes: number;
  /** Aliases resolved; more only serves a "billion laughs" blow-up. */
  maxAliases: number;
}

export type YamlResult = { ok: true; value: unknown; doc: Document } | { ok: false; problems: FieldProblem[] };

/** The document in `text`, or why it is none: too large, not YAML, a warning (an unknown tag), too many aliases, a key that is not a plain string. */
export function readYaml(text: string, limits: YamlLimits): YamlResult {
  const whole = (message: string): YamlResult => ({ ok: false, problems: [{ path: '', message }] });
  if (Buffer.byteLength(text, 'utf8') > limits.maxBytes) return whole(`larger than ${limits.maxBytes} bytes`);
  const doc = parseDocument(text, { schema: 'failsafe', uniqueKeys: true, prettyErrors: true });
  // A warning (an unknown tag, say) means the document may not say what its author meant.
  const issues = [...doc.errors, ...doc.warnings];
  if (issues.length > 0) return { ok: false, problems: issues.map((e) => ({ path: '', message: `YAML: ${firstLine(e.message)}` })) };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: limits.maxAliases });
  } catch (err) {
    return whole(`YAML: ${firstLine((err as Error).message)}`);
  }
  // Tags or anchors on keys could make keys that are not strings.
  if (!plainKeys(doc.contents)) return whole('YAML: mapping keys must be plain strings');
  return { ok: true, value, doc };
}

/** `path: message`, or the message alone for the whole document. */
export function formatProblem(p: FieldProblem): string {
  return p.path === '' ? p.message : `${p.path}: ${p.message}`;
}

/** `base.key`, or `base["key"]` for a key that is not an identifier; the key alone at the top. */
export function fieldPath(base: string, key: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return `${base}[${JSON.stringify(key)}]`;
  return base === '' ? key : `${base}.${key}`;
}

/** What a value is, for "expected X, got Y". */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return v === '' ? 'an empty value' : quote(String(v));
}

export function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

export function isMapping(v: unknown): v is Fields {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One pass over a document, collecting problems; a reader builds its result only when there are none. */
export class FieldReader {
  readonly problems: FieldProblem[] = [];

  /** Records a problem; returns false so that checks can end with it. */
  problem(path: string, message: string): false {
    this.problems.push({ path, message });
    return false;
  }

  invalid(path: string, value: string, expectation: string): false {
    return this.problem(path, `invalid value: ${quote(value)}: ${expectation}`);
  }

  /** A mapping whose keys are all in `allowed` (any key when null). */
  mapping(value: unknown, path: string, allowed: readonly string[] | null): Fields | undefined {
    if (!isMapping(value)) {
      this.problem(path, `expected a mapping, got ${describeValue(value)}`);
      return undefined;
    }
    if (allowed) {
      for (const key of Object.keys(value)) {
        if (!allowed.includes(key)) this.problem(fieldPath(path, key), `unknown field (expected ${allowed.join(', ')})`);
      }
    }
    return value;
  }

  /** A list; `nonEmpty`: an empty one would mean "nothing", which is never what was meant. */
  list(value: unknown, path: string, nonEmpty = true): unknown[] | undefined {
    if (!Array.isArray(value)) {
      this.problem(path, `expected a list, got ${describeValue(value)}`);
      return undefined;
    }
    if (nonEmpty && value.length === 0) {
      this.problem(path, 'empty list');
      return undefined;
    }
    return value;
  }

  /** `fields[key]`, a non-empty string (blank counts as empty). */
  string(fields: Fields, key: string, path: string, required: boolean): string | undefined {
    return this.text(fields[key], path, required);
  }

  /** `value` as a non-empty string, or a problem at `path`. */
  text(value: unknown, path: string, required = true): string | undefined {
    if (value === undefined) {
      if (required) this.problem(path, 'missing field');
      return undefined;
    }
    if (typeof value !== 'string') {
      this.problem(path, `expected a string, got ${describeValue(value)}`);
      return undefined;
    }
    if (value.trim() === '') {
      this.problem(path, 'empty value');
      return undefined;
    }
    return value;
  }

  /** `fields[key]`, one of `allowed`. */
  oneOf<T extends string>(fields: Fields, key: string, path: string, allowed: readonly T[], required = false): T | undefined {
    const s = this.string(fields, key, path, required);
    if (s === undefined) return undefined;
    if ((allowed as readonly string[]).includes(s)) return s as T;
    this.invalid(path, s, `expected one of ${allowed.join(', ')}`);
    return undefined;
  }

  matches(value: string, path: string, re: RegExp, expectation: string): boolean {
    return re.test(value) || this.invalid(path, value, expectation);
  }
}

function firstLine(s: string): string {
  return (s.split('\n')[0] ?? '').replace(/:$/, '');
}

/** Every mapping key in the document is a plain scalar string. */
function plainKeys(node: Node | null | undefined | unknown): boolean {
  if (isMap(node)) return node.items.every((pair) => isScalar(pair.key) && typeof pair.key.value === 'string' && plainKeys(pair.value));
  if (isSeq(node)) return node.items.every((item) => plainKeys(item));
  return true;
}
