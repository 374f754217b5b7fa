/**
 * A Rego engine: lexer, parser, and a top-down evaluator, with no network,
 * file or host access and no dependency on the rest of sigwatch. Deterministic
 * (time.now_ns reads the `now` it is given), bounded (a step and a depth limit
 * end hostile policies with an `eval_limit_error`).
 */
import type { Literal, Module } from './ast.ts';
import { compileModules, varsOf, type Compiled } from './compile.ts';
import { RegoError } from './errors.ts';
import { Evaluator, type EvalOptions } from './eval.ts';
import { parseModule, parseQuery, type ParseOptions } from './parser.ts';
import { fromJSON, toJSON, type Value } from './values.ts';

export { RegoError, type RegoErrorCode, type Location } from './errors.ts';
export { REFUSED_BUILTINS } from './parser.ts';
export { builtins } from './builtins/index.ts';
export { fromJSON, toJSON, type Value } from './values.ts';

export interface SourceModule {
  file: string;
  source: string;
}

export interface PrepareOptions {
  /** Parse as Rego v1; default false (v0, as policy-controller evaluates). `import rego.v1` turns v1 on per module. */
  v1?: boolean;
}

export interface QueryOptions extends Omit<EvalOptions, 'input'> {
  /** The input document as JSON (JSON.parse's result). */
  input?: unknown;
  /** Base documents under `data`, as JSON. */
  data?: unknown;
}

/** One solution: the query's variables and their values, as JSON. */
export type Bindings = Record<string, unknown>;

export class Program {
  readonly modules: Module[];
  private compiled: Compiled;
  constructor(modules: Module[]) {
    this.modules = modules;
    this.compiled = compileModules(modules);
  }

  /** Every solution of a query (`data.sigstore.isCompliant = x`), as bindings of its named vars. */
  query(query: string | Literal[], opts: QueryOptions = {}): Bindings[] {
    const lits = typeof query === 'string' ? parseQuery(query) : query;
    const resolved = this.resolveQuery(lits);
    const vars = new Set<string>();
    for (const l of resolved) literalVars(l, vars);
    const names = [...vars].filter((v) => !v.startsWith('_$') && v !== 'input' && v !== 'data');
    const ev = new Evaluator(this.compiled.root, opts.data === undefined ? null : fromJSON(opts.data), {
      ...opts,
      input: opts.input === undefined ? undefined : fromJSON(opts.input),
    });
    return ev.query(resolved, names).map((m) => {
      const out: Bindings = {};
      for (const [k, v] of m) out[k] = toJSON(v);
      return out;
    });
  }

  /** The value at `data.<path>` as JSON, or undefined. */
  evaluate(path: string[], opts: QueryOptions = {}): unknown {
    const ev = new Evaluator(this.compiled.root, opts.data === undefined ? null : fromJSON(opts.data), {
      ...opts,
      input: opts.input === undefined ? undefined : fromJSON(opts.input),
    });
    const v: Value | undefined = ev.dataAt(path);
    return v === undefined ? undefined : toJSON(v);
  }

  private resolveQuery(lits: Literal[]): Literal[] {
    // A query's names are data/input refs or vars; nothing to resolve but imports, which queries have none of.
    return lits;
  }
}

function literalVars(l: Literal, out: Set<string>): void {
  switch (l.k) {
    case 'expr':
      varsOfTop(l.term, out);
      return;
    case 'some':
      return;
    case 'somein':
      if (l.key) varsOf(l.key, out);
      varsOf(l.value, out);
      return;
    case 'every':
      return;
  }
}

function varsOfTop(t: Literal extends never ? never : Parameters<typeof varsOf>[0], out: Set<string>): void {
  if (t.t === 'arraycomp' || t.t === 'setcomp' || t.t === 'objcomp') return;
  if (t.t === 'call') {
    for (const a of t.args) varsOfTop(a, out);
    return;
  }
  if (t.t === 'ref') {
    varsOfTop(t.head, out);
    for (const p of t.path) varsOfTop(p, out);
    return;
  }
  if (t.t === 'array' || t.t === 'set') {
    for (const i of t.items) varsOfTop(i, out);
    return;
  }
  if (t.t === 'object') {
    for (const [k, v] of t.entries) {
      varsOfTop(k, out);
      varsOfTop(v, out);
    }
    return;
  }
  if (t.t === 'var') out.add(t.name);
}

/** Parses and compiles modules; parse and compile errors are RegoErrors with a location. */
export function prepare(modules: SourceModule[] | string, opts: PrepareOptions = {}): Program {
  const list = typeof modules === 'string' ? [{ file: 'policy.rego', source: modules }] : modules;
  const parsed = list.map((m) => {
    try {
      return parseModule(m.source, { file: m.file, v1: opts.v1 ?? false } satisfies ParseOptions);
    } catch (err) {
      // The parser recurses per nesting level: `((((…` thousands deep exhausts the stack.
      if (err instanceof RangeError) throw new RegoError('rego_parse_error', 'the policy nests too deeply to parse', { file: m.file, line: 1, col: 1 });
      throw err;
    }
  });
  return new Program(parsed);
}

export function isRegoError(err: unknown): err is RegoError {
  return err instanceof RegoError;
}
