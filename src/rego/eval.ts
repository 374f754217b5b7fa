import type { Literal, Term, With } from './ast.ts';
import { BuiltinError, builtins, walkPairs, type BuiltinContext } from './builtins/index.ts';
import { varsOf, type CompiledRule, type DataNode } from './compile.ts';
import { RegoError, type Location } from './errors.ts';
import { callName } from './parser.ts';
import { RObject, RSet, equal, isObject, keyOf, type Value } from './values.ts';

/** Continuations return true to stop the search (one answer is enough). */
type K = () => boolean;
type KV = (v: Value) => boolean;

export interface Limits {
  /** Literals, rule and function evaluations, and iteration steps, before evaluation stops. */
  maxSteps: number;
  /** Nested rule and function evaluations. */
  maxDepth: number;
}

// About 2 million steps a second here: 5 million bounds a policy to a few seconds while leaving room for an SBOM of thousands of packages checked against a list.
const DEFAULT_LIMITS: Limits = { maxSteps: 5_000_000, maxDepth: 200 };

class Frame {
  readonly vars = new Map<string, Value>();
  private trail: string[] = [];
  get(name: string): Value | undefined {
    return this.vars.get(name);
  }
  bind(name: string, v: Value): void {
    this.vars.set(name, v);
    this.trail.push(name);
  }
  mark(): number {
    return this.trail.length;
  }
  undo(m: number): void {
    while (this.trail.length > m) this.vars.delete(this.trail.pop()!);
  }
}

interface Context {
  input: Value | undefined;
  base: Value;
  /** `with data.x as v`: path key → value. */
  dataOverrides: Map<string, Value>;
  /** `with f as g`: function name → replacement (a value, or a function term). */
  fnMocks: Map<string, Term>;
  cache: Map<DataNode, Value | undefined | typeof IN_PROGRESS>;
  funcCache: Map<string, Value | undefined>;
}

const IN_PROGRESS = Symbol('in progress');

export interface EvalOptions {
  input?: Value;
  limits?: Partial<Limits>;
  /** Milliseconds since the epoch, for time.now_ns; without it time.now_ns is an error. */
  now?: number;
  /** Built-in errors stop evaluation (OPA's strict mode) instead of leaving the expression undefined. */
  strictBuiltinErrors?: boolean;
}

export class Evaluator {
  private ctx: Context;
  private steps = 0;
  private depth = 0;
  private limits: Limits;
  private bctx: BuiltinContext;
  private strict: boolean;
  private baseData: Value;

  private root: DataNode;

  constructor(root: DataNode, baseData: Value, opts: EvalOptions) {
    this.root = root;
    this.baseData = baseData;
    this.ctx = { input: opts.input, base: baseData, dataOverrides: new Map(), fnMocks: new Map(), cache: new Map(), funcCache: new Map() };
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.strict = opts.strictBuiltinErrors ?? false;
    this.bctx = { now: opts.now, cache: new Map() };
  }

  private step(loc?: Location): void {
    if (++this.steps > this.limits.maxSteps)
      throw new RegoError('eval_limit_error', `evaluation stopped after ${this.limits.maxSteps} steps (the policy's step limit)`, loc);
  }

  /** Every solution of a query: the bindings of its vars. */
  query(lits: Literal[], vars: string[]): Map<string, Value>[] {
    const f = new Frame();
    const out: Map<string, Value>[] = [];
    this.guard(() =>
      this.body(lits, 0, f, () => {
        const m = new Map<string, Value>();
        for (const v of vars) {
          const val = f.get(v);
          if (val !== undefined) m.set(v, val);
        }
        out.push(m);
        return false;
      }),
    );
    return out;
  }

  /** The value of `data` at a path (undefined when undefined). */
  dataAt(path: string[]): Value | undefined {
    let result: Value | undefined;
    this.guard(() =>
      this.walkData(
        this.root,
        this.baseData,
        path.map((p) => ({ t: 'scalar', v: p, loc: { file: 'query', line: 1, col: 1 } }) as Term),
        0,
        new Frame(),
        (v) => {
          result = v;
          return true;
        },
      ),
    );
    return result;
  }

  private guard(fn: () => unknown): void {
    try {
      fn();
    } catch (err) {
      if (err instanceof RangeError && /call stack/i.test(err.message)) {
        throw new RegoError('eval_limit_error', 'evaluation stopped: the policy nests too deeply (stack exhausted)');
      }
      throw err;
    }
  }

  // ---------------------------------------------------------------- bodies

  private body(lits: Literal[], i: number, f: Frame, k: K): boolean {
    if (i === lits.length) return k();
    const lit = lits[i]!;
    this.step(lit.loc);
    let entered = false;
    const next = () => {
      entered = true;
      return this.body(lits, i + 1, f, k);
    };
    const withs = lit.k === 'some' ? [] : lit.withs;
    const m = f.mark();
    try {
      if (withs.length > 0) return this.withLiteral(withs, f, (inner) => this.literal(lit, f, inner), next);
      return this.literal(lit, f, next);
    } catch (err) {
      // OPA orders a body so that each variable is bound before it is used; here a
      // literal that meets an unbound variable is tried again after the others.
      if (entered || i === lits.length - 1 || !(err instanceof RegoError) || err.code !== 'rego_unsafe_var_error') throw err;
      f.undo(m);
      return this.body(deferred(lits, i), i, f, k);
    }
  }

  private literal(lit: Literal, f: Frame, k: K): boolean {
    switch (lit.k) {
      case 'some':
        return k();
      case 'somein':
        return this.someIn(lit.key, lit.value, lit.coll, f, k);
      case 'every':
        return this.every(lit, f, k);
      case 'expr':
        if (lit.neg) {
          // A negation binds nothing: its variables (but `_`) must be bound first.
          for (const v of negatedVars(lit)) {
            if (f.get(v) === undefined) throw new RegoError('rego_unsafe_var_error', `var ${v} is unsafe`, lit.loc);
          }
          const m = f.mark();
          let found = false;
          this.expr(lit.term, f, () => {
            found = true;
            return true;
          });
          f.undo(m);
          return found ? false : k();
        }
        return this.expr(lit.term, f, k);
    }
  }

  private expr(t: Term, f: Frame, k: K): boolean {
    if (t.t === 'call' && t.op.t === 'var') {
      if (t.op.name === 'eq' || t.op.name === 'assign') return this.unify(t.args[0]!, t.args[1]!, f, k);
    }
    return this.eval(t, f, (v) => (v === false ? false : k()));
  }

  private someIn(key: Term | undefined, value: Term, coll: Term, f: Frame, k: K): boolean {
    return this.eval(coll, f, (c) => {
      for (const [kv, vv] of members(c)) {
        this.step();
        const m = f.mark();
        const stop = key ? this.unifyValue(key, kv, f, () => this.unifyValue(value, vv, f, k)) : this.unifyValue(value, vv, f, k);
        f.undo(m);
        if (stop) return true;
      }
      return false;
    });
  }

  private every(lit: Extract<Literal, { k: 'every' }>, f: Frame, k: K): boolean {
    return this.eval(lit.domain, f, (d) => {
      if (typeof d !== 'object' || d === null) return false;
      for (const [kv, vv] of members(d)) {
        this.step();
        const m = f.mark();
        let ok = false;
        const bind = () =>
          this.body(lit.body, 0, f, () => {
            ok = true;
            return true;
          });
        if (lit.key) this.unifyValue(lit.key, kv, f, () => this.unifyValue(lit.value, vv, f, bind));
        else this.unifyValue(lit.value, vv, f, bind);
        f.undo(m);
        if (!ok) return false;
      }
      return k();
    });
  }

  private withLiteral(withs: With[], f: Frame, run: (k: K) => boolean, k: K): boolean {
    const values: Value[] = [];
    const collect = (i: number): boolean => {
      if (i === withs.length) return this.applyWiths(withs, values, f, run, k);
      const w = withs[i]!;
      if (isFunctionTarget(w.target, this.root)) {
        values.push(null);
        const r = collect(i + 1);
        values.pop();
        return r;
      }
      return this.eval(w.value, f, (v) => {
        values.push(v);
        const r = collect(i + 1);
        values.pop();
        return r;
      });
    };
    return collect(0);
  }

  private applyWiths(withs: With[], values: Value[], _f: Frame, run: (k: K) => boolean, k: K): boolean {
    const outer = this.ctx;
    const inner: Context = {
      input: outer.input,
      base: outer.base,
      dataOverrides: new Map(outer.dataOverrides),
      fnMocks: new Map(outer.fnMocks),
      cache: new Map(),
      funcCache: new Map(),
    };
    withs.forEach((w, i) => {
      const target = w.target;
      const name = callName(target);
      if (isFunctionTarget(target, this.root)) {
        inner.fnMocks.set(name!, w.value);
        return;
      }
      const path = refPath(target);
      if (!path) throw new RegoError('rego_compile_error', 'with keyword target must reference existing input, data, or a function', w.loc);
      if (path[0] === 'input') inner.input = path.length === 1 ? values[i]! : setPath(inner.input, path.slice(1), values[i]!);
      else if (path[0] === 'data') {
        // A deeper override inside an earlier one is folded into it.
        inner.dataOverrides.set(path.slice(1).join('\u0000'), values[i]!);
        inner.base = setPath(inner.base, path.slice(1), values[i]!);
      } else throw new RegoError('rego_compile_error', 'with keyword target must reference existing input, data, or a function', w.loc);
    });
    this.ctx = inner;
    try {
      return run(() => {
        this.ctx = outer;
        try {
          return k();
        } finally {
          this.ctx = inner;
        }
      });
    } finally {
      this.ctx = outer;
    }
  }

  // ---------------------------------------------------------- unification

  private unify(a: Term, b: Term, f: Frame, k: K): boolean {
    if (a.t === 'array' && b.t === 'array') {
      if (a.items.length !== b.items.length) return false;
      const go = (i: number): boolean => (i === a.items.length ? k() : this.unify(a.items[i]!, b.items[i]!, f, () => go(i + 1)));
      return go(0);
    }
    if (a.t === 'object' && b.t === 'object') {
      if (a.entries.length !== b.entries.length) return false;
      return this.eval({ t: 'array', items: a.entries.map((e) => e[0]), loc: a.loc }, f, (ka) =>
        this.eval({ t: 'array', items: b.entries.map((e) => e[0]), loc: b.loc }, f, (kb) => {
          const idx = (kb as Value[]).map(keyOf);
          const pairs: [Term, Term][] = [];
          for (let i = 0; i < a.entries.length; i++) {
            const j = idx.indexOf(keyOf((ka as Value[])[i]!));
            if (j < 0) return false;
            pairs.push([a.entries[i]![1], b.entries[j]![1]]);
          }
          const go = (i: number): boolean => (i === pairs.length ? k() : this.unify(pairs[i]![0], pairs[i]![1], f, () => go(i + 1)));
          return go(0);
        }),
      );
    }
    if (this.isPattern(a, f)) {
      if (this.isPattern(b, f) && b.t === 'var') return this.eval(a, f, (v) => this.unifyValue(b, v, f, k), true);
      return this.eval(b, f, (v) => this.unifyValue(a, v, f, k));
    }
    return this.eval(a, f, (v) => this.unifyValue(b, v, f, k));
  }

  /** Whether a term has vars that are not bound yet (outside refs and calls, which bind by iterating). */
  private isPattern(t: Term, f: Frame): boolean {
    switch (t.t) {
      case 'var':
        return f.get(t.name) === undefined && !isRoot(t.name);
      case 'array':
      case 'set':
        return t.items.some((i) => this.isPattern(i, f));
      case 'object':
        return t.entries.some(([, v]) => this.isPattern(v, f));
      default:
        return false;
    }
  }

  /** Unifies a term with a value, binding the term's unbound vars. */
  private unifyValue(t: Term, v: Value, f: Frame, k: K): boolean {
    switch (t.t) {
      case 'var': {
        if (isRoot(t.name)) return this.eval(t, f, (w) => equal(w, v) && k());
        const cur = f.get(t.name);
        if (cur !== undefined) return equal(cur, v) ? k() : false;
        const m = f.mark();
        f.bind(t.name, v);
        const r = k();
        f.undo(m);
        return r;
      }
      case 'array': {
        if (!Array.isArray(v) || v.length !== t.items.length) return false;
        const go = (i: number): boolean => (i === t.items.length ? k() : this.unifyValue(t.items[i]!, v[i]!, f, () => go(i + 1)));
        return go(0);
      }
      case 'object': {
        if (!isObject(v) || v.size !== t.entries.length) return false;
        const go = (i: number): boolean => {
          if (i === t.entries.length) return k();
          const [kt, vt] = t.entries[i]!;
          return this.eval(kt, f, (kv) => {
            const got = v.get(kv);
            return got === undefined ? false : this.unifyValue(vt, got, f, () => go(i + 1));
          });
        };
        return go(0);
      }
      default:
        return this.eval(t, f, (w) => (equal(w, v) ? k() : false));
    }
  }

  // ----------------------------------------------------------- evaluation

  /** Evaluates a term to each of its values. */
  private eval(t: Term, f: Frame, k: KV, allowUnbound = false): boolean {
    switch (t.t) {
      case 'scalar':
        return k(t.v);
      case 'value':
        return k(t.v as Value);
      case 'var': {
        const v = f.get(t.name);
        if (v !== undefined) return k(v);
        if (t.name === 'input') return this.ctx.input === undefined ? false : k(this.ctx.input);
        if (t.name === 'data') return this.walkData(this.root, this.ctx.base, [], 0, f, k);
        if (allowUnbound) return false;
        throw new RegoError('rego_unsafe_var_error', `var ${displayVar(t.name)} is unsafe`, t.loc);
      }
      case 'ref':
        return this.ref(t, f, k);
      case 'array':
        return this.evalList(t.items, f, (vs) => k(vs));
      case 'set':
        return this.evalList(t.items, f, (vs) => k(new RSet(vs)));
      case 'object':
        return this.evalList(
          t.entries.flatMap((e) => e),
          f,
          (vs) => {
            const o = new RObject();
            for (let i = 0; i < vs.length; i += 2) o.set(vs[i]!, vs[i + 1]!);
            return k(o);
          },
        );
      case 'arraycomp': {
        const out: Value[] = [];
        const m = f.mark();
        this.body(t.body, 0, f, () => this.eval(t.head, f, (v) => (out.push(v), false)));
        f.undo(m);
        return k(out);
      }
      case 'setcomp': {
        const out = new RSet();
        const m = f.mark();
        this.body(t.body, 0, f, () => this.eval(t.head, f, (v) => (out.add(v), false)));
        f.undo(m);
        return k(out);
      }
      case 'objcomp': {
        const out = new RObject();
        const m = f.mark();
        this.body(t.body, 0, f, () =>
          this.eval(t.key, f, (kv) =>
            this.eval(t.value, f, (vv) => {
              const prev = out.get(kv);
              if (prev !== undefined && !equal(prev, vv)) throw new RegoError('eval_conflict_error', 'object keys must be unique', t.loc);
              out.set(kv, vv);
              return false;
            }),
          ),
        );
        f.undo(m);
        return k(out);
      }
      case 'call':
        return this.call(t, f, k);
    }
  }

  private evalList(items: Term[], f: Frame, k: (vs: Value[]) => boolean): boolean {
    const vals: Value[] = [];
    const go = (i: number): boolean => {
      if (i === items.length) return k(vals.slice());
      return this.eval(items[i]!, f, (v) => {
        vals.push(v);
        const r = go(i + 1);
        vals.pop();
        return r;
      });
    };
    return go(0);
  }

  private ref(t: Extract<Term, { t: 'ref' }>, f: Frame, k: KV): boolean {
    const head = t.head;
    if (head.t === 'var' && f.get(head.name) === undefined) {
      if (head.name === 'data') return this.walkData(this.root, this.ctx.base, t.path, 0, f, k);
      if (head.name === 'input') return this.ctx.input === undefined ? false : this.walk(this.ctx.input, t.path, 0, f, k);
    }
    return this.eval(head, f, (v) => this.walk(v, t.path, 0, f, k));
  }

  /** Follows a ref's path through a value; unbound vars in the path iterate. */
  private walk(v: Value, path: Term[], i: number, f: Frame, k: KV): boolean {
    if (i === path.length) return k(v);
    const p = path[i]!;
    if (typeof v !== 'object' || v === null) return false;
    if (p.t === 'scalar') {
      const got = index(v, p.v);
      return got === undefined ? false : this.walk(got, path, i + 1, f, k);
    }
    if (p.t === 'var' && f.get(p.name) !== undefined) {
      const got = index(v, f.get(p.name)!);
      return got === undefined ? false : this.walk(got, path, i + 1, f, k);
    }
    if (this.isPattern(p, f)) {
      for (const [kv, vv] of members(v)) {
        this.step();
        if (this.unifyValue(p, kv, f, () => this.walk(vv, path, i + 1, f, k))) return true;
      }
      return false;
    }
    return this.eval(p, f, (key) => {
      const got = index(v, key);
      return got === undefined ? false : this.walk(got, path, i + 1, f, k);
    });
  }

  /** Follows a ref under `data`, evaluating the rules met on the way. */
  private walkData(node: DataNode, base: Value | undefined, path: Term[], i: number, f: Frame, k: KV): boolean {
    if (this.ctx.dataOverrides.size > 0) {
      const ov = this.ctx.dataOverrides.get(node.path.join('\u0000'));
      if (ov !== undefined && node.path.length > 0) return this.walk(ov, path, i, f, k);
    }
    if (node.rules.length > 0 || node.defaults.length > 0) {
      const v = this.ruleValue(node);
      if (v === undefined) return false;
      return this.walk(v, path, i, f, k);
    }
    if (node.funcs.length > 0 || node.funcDefaults.length > 0) return false;
    if (i === path.length) {
      const v = this.materialize(node, base);
      return v === undefined ? false : k(v);
    }
    const p = path[i]!;
    const step = (key: Value): boolean => {
      if (typeof key === 'string') {
        const c = node.children.get(key);
        if (c) return this.walkData(c, isObject(base) ? base.get(key) : undefined, path, i + 1, f, k);
      }
      if (base === undefined) return false;
      const got = index(base, key);
      return got === undefined ? false : this.walk(got, path, i + 1, f, k);
    };
    if (p.t === 'scalar') return step(p.v);
    if (p.t === 'var' && f.get(p.name) === undefined && !isRoot(p.name)) {
      const keys = new Map<string, Value>();
      if (isObject(base)) for (const key of base.keys()) keys.set(keyOf(key), key);
      for (const name of node.children.keys()) keys.set(keyOf(name), name);
      for (const key of keys.values()) {
        this.step();
        const m = f.mark();
        f.bind(p.name, key);
        const r = step(key);
        f.undo(m);
        if (r) return true;
      }
      return false;
    }
    return this.eval(p, f, step);
  }

  /** The whole value of a data node: its base document with every rule below merged in. */
  private materialize(node: DataNode, base: Value | undefined): Value | undefined {
    if (this.ctx.dataOverrides.size > 0 && node.path.length > 0) {
      const ov = this.ctx.dataOverrides.get(node.path.join('\u0000'));
      if (ov !== undefined) return ov;
    }
    if (node.rules.length > 0 || node.defaults.length > 0) return this.ruleValue(node);
    if (node.funcs.length > 0 || node.funcDefaults.length > 0) return undefined;
    if (node.children.size === 0) return base;
    const out = new RObject(isObject(base) ? base.entries() : []);
    for (const [name, c] of node.children) {
      const v = this.materialize(c, isObject(base) ? base.get(name) : undefined);
      if (v !== undefined) out.set(name, v);
    }
    return out;
  }

  // ---------------------------------------------------------------- rules

  private enter(loc: Location): void {
    if (++this.depth > this.limits.maxDepth)
      throw new RegoError(
        'eval_limit_error',
        `evaluation stopped: rules and functions nest more than ${this.limits.maxDepth} deep (the policy's depth limit)`,
        loc,
      );
  }

  private ruleValue(node: DataNode): Value | undefined {
    const cached = this.ctx.cache.get(node);
    if (cached === IN_PROGRESS) throw new RegoError('rego_recursion_error', `rule data.${node.path.join('.')} is recursive`, node.rules[0]?.loc);
    if (this.ctx.cache.has(node)) return cached as Value | undefined;
    this.ctx.cache.set(node, IN_PROGRESS);
    const loc = (node.rules[0] ?? node.defaults[0])!.loc;
    this.enter(loc);
    let v: Value | undefined;
    try {
      v = this.computeRules(node);
    } catch (err) {
      this.ctx.cache.delete(node);
      throw err;
    } finally {
      this.depth--;
    }
    this.ctx.cache.set(node, v);
    return v;
  }

  private computeRules(node: DataNode): Value | undefined {
    const rules = node.rules;
    const first = rules[0];
    if (first && first.kind === 'set') {
      const out = new RSet();
      for (const r of rules) {
        const f = new Frame();
        this.body(r.body, 0, f, () => this.eval(r.member!, f, (v) => (out.add(v), false)));
      }
      return out;
    }
    if (first && first.dynamic.length > 0) {
      const out = new RObject();
      for (const r of rules) {
        const f = new Frame();
        this.body(r.body, 0, f, () =>
          this.evalList(r.dynamic, f, (keys) =>
            this.eval(r.value ?? TRUE, f, (v) => {
              insertPath(out, keys, v, r.loc);
              return false;
            }),
          ),
        );
      }
      // Rules deeper down (`p.q.r := 1` beside `p.q[s] := 2`) share the object.
      for (const [name, c] of node.children) {
        const v = this.materialize(c, undefined);
        if (v !== undefined) insertPath(out, [name], v, first.loc);
      }
      return out;
    }
    let result: Value | undefined;
    for (const r of rules) {
      const v = this.completeRule(r);
      if (v === undefined) continue;
      if (result !== undefined && !equal(result, v)) throw new RegoError('eval_conflict_error', 'complete rules must not produce multiple outputs', r.loc);
      result = v;
    }
    if (result === undefined && node.defaults[0]) {
      const d = node.defaults[0];
      this.eval(d.value!, new Frame(), (v) => ((result = v), true));
    }
    return result;
  }

  /** A complete rule with its else chain: the first clause with a solution gives the value. */
  private completeRule(r: CompiledRule, f0?: () => Frame, args?: Value[]): Value | undefined {
    const clauses = [{ value: r.value, body: r.body, loc: r.loc }, ...r.elses];
    for (const c of clauses) {
      let result: Value | undefined;
      const f = f0 ? f0() : new Frame();
      const run = () =>
        this.body(c.body, 0, f, () =>
          this.eval(c.value ?? TRUE, f, (v) => {
            if (result !== undefined && !equal(result, v)) {
              throw new RegoError(
                'eval_conflict_error',
                r.kind === 'func' ? 'functions must not produce multiple outputs for same inputs' : 'complete rules must not produce multiple outputs',
                r.loc,
              );
            }
            result = v;
            return false;
          }),
        );
      if (args) this.bindArgs(r.args!, args, f, 0, run);
      else run();
      if (result !== undefined) return result;
    }
    return undefined;
  }

  private bindArgs(params: Term[], args: Value[], f: Frame, i: number, k: K): boolean {
    if (i === params.length) return k();
    return this.unifyValue(params[i]!, args[i]!, f, () => this.bindArgs(params, args, f, i + 1, k));
  }

  // ---------------------------------------------------------------- calls

  private call(t: Extract<Term, { t: 'call' }>, f: Frame, k: KV): boolean {
    const name = callName(t.op);
    if (name === undefined) throw new RegoError('rego_type_error', 'illegal call', t.loc);
    const mock = this.ctx.fnMocks.get(name);
    if (mock) return this.callMock(mock, t, f, k);
    const node = name.startsWith('data.') ? this.funcNode(name) : undefined;
    if (node) {
      const arity = node.funcs[0]?.args?.length ?? node.funcDefaults[0]?.args?.length ?? 0;
      return this.callWith(t.args, arity, f, k, (args) => this.callUser(node, args, t.loc));
    }
    if (name.startsWith('data.')) {
      // A call of something under data that is no function (OPA: a type error at compile time).
      throw new RegoError('rego_type_error', `undefined function ${name}`, t.loc);
    }
    if (name === 'walk') return this.walkRelation(t, f, k);
    if (name === 'print') {
      for (const a of t.args) this.eval(a, f, () => false, true);
      return k(true);
    }
    const b = builtins[name];
    if (!b) throw new RegoError('rego_type_error', `undefined function ${name}`, t.loc);
    return this.callWith(t.args, b.arity, f, k, (args) => {
      try {
        return b.fn(args, this.bctx);
      } catch (err) {
        if (err instanceof BuiltinError) {
          if (err.halt || this.strict) throw new RegoError(err.code, `${name}: ${err.message}`, t.loc);
          return undefined;
        }
        throw err;
      }
    });
  }

  /** walk(x, [path, value]) is a relation: one solution per node under x. */
  private walkRelation(t: Extract<Term, { t: 'call' }>, f: Frame, k: KV): boolean {
    if (t.args.length < 1 || t.args.length > 2) throw new RegoError('rego_type_error', 'walk: arity mismatch', t.loc);
    return this.eval(t.args[0]!, f, (x) => {
      for (const [path, v] of walkPairs(x)) {
        this.step();
        const pair: Value = [path, v];
        if (t.args.length === 2 ? this.unifyValue(t.args[1]!, pair, f, () => k(true)) : k(pair)) return true;
      }
      return false;
    });
  }

  private callMock(mock: Term, t: Extract<Term, { t: 'call' }>, f: Frame, k: KV): boolean {
    const mname = callName(mock);
    const isFn = mname !== undefined && (builtins[mname] !== undefined || (mname.startsWith('data.') && this.funcNode(mname) !== undefined));
    if (isFn && mname !== callName(t.op)) {
      // A mock runs with no mocks in force: it may call the function it replaces.
      const outer = this.ctx;
      const inner: Context = { ...outer, fnMocks: new Map(), cache: new Map(), funcCache: new Map() };
      return this.callWith(t.args, this.arityOf(callName(t.op)!, t.args.length), f, k, (args) => {
        this.ctx = inner;
        try {
          let out: Value | undefined;
          this.call({ ...t, op: mock, args: args.map((v) => valueTerm(v, t.loc)) }, f, (v) => ((out = v), true));
          return out;
        } finally {
          this.ctx = outer;
        }
      });
    }
    const arity = builtins[callName(t.op)!]?.arity ?? this.funcNode(callName(t.op)!)?.funcs[0]?.args?.length ?? t.args.length;
    return this.callWith(t.args, arity, f, k, () => {
      let out: Value | undefined;
      this.eval(mock, f, (v) => ((out = v), true));
      return out;
    });
  }

  private arityOf(name: string, fallback: number): number {
    return builtins[name]?.arity ?? this.funcNode(name)?.funcs[0]?.args?.length ?? this.funcNode(name)?.funcDefaults[0]?.args?.length ?? fallback;
  }

  private funcNode(name: string): DataNode | undefined {
    let node: DataNode | undefined = this.root;
    for (const p of name.split('.').slice(1)) {
      node = node.children.get(p);
      if (!node) return undefined;
    }
    return node.funcs.length > 0 || node.funcDefaults.length > 0 ? node : undefined;
  }

  /** Evaluates a call's arguments; one argument more than the arity is the output to unify. */
  private callWith(argTerms: Term[], arity: number, f: Frame, k: KV, fn: (args: Value[]) => Value | undefined): boolean {
    const inputs = argTerms.length > arity ? argTerms.slice(0, arity) : argTerms;
    const output = argTerms.length > arity ? argTerms[arity] : undefined;
    if (argTerms.length > arity + 1 || argTerms.length < arity) {
      throw new RegoError('rego_type_error', `function has arity ${arity}, got ${argTerms.length} arguments`, argTerms[0]?.loc);
    }
    return this.evalList(inputs, f, (args) => {
      const r = fn(args);
      if (r === undefined) return false;
      if (output) return this.unifyValue(output, r, f, () => k(true));
      return k(r);
    });
  }

  private callUser(node: DataNode, args: Value[], loc: Location): Value | undefined {
    const key = `${node.path.join('.')}(${args.map(keyOf).join(',')})`;
    if (this.ctx.funcCache.has(key)) return this.ctx.funcCache.get(key);
    this.enter(loc);
    this.step(loc);
    let result: Value | undefined;
    try {
      for (const r of node.funcs) {
        const v = this.completeRule(r, () => new Frame(), args);
        if (v === undefined) continue;
        if (result !== undefined && !equal(result, v))
          throw new RegoError('eval_conflict_error', 'functions must not produce multiple outputs for same inputs', r.loc);
        result = v;
      }
      if (result === undefined && node.funcDefaults[0]) this.eval(node.funcDefaults[0].value!, new Frame(), (v) => ((result = v), true));
    } finally {
      this.depth--;
    }
    this.ctx.funcCache.set(key, result);
    return result;
  }
}

const negVars = new WeakMap<Literal, string[]>();

function negatedVars(lit: Extract<Literal, { k: 'expr' }>): string[] {
  let vs = negVars.get(lit);
  if (!vs) {
    const all = new Set<string>();
    varsOf(lit.term, all);
    vs = [...all].filter((v) => !v.startsWith('_$') && !isRoot(v));
    negVars.set(lit, vs);
  }
  return vs;
}

const reordered = new WeakMap<Literal[], Map<number, Literal[]>>();

/** The body with literal i moved to the end (cached, so a body is reordered once). */
function deferred(lits: Literal[], i: number): Literal[] {
  let byIndex = reordered.get(lits);
  if (!byIndex) {
    byIndex = new Map();
    reordered.set(lits, byIndex);
  }
  let out = byIndex.get(i);
  if (!out) {
    out = [...lits.slice(0, i), ...lits.slice(i + 1), lits[i]!];
    byIndex.set(i, out);
  }
  return out;
}

/** A value as a term (values handed to a function as arguments). */
function valueTerm(v: Value, loc: Location): Term {
  return { t: 'value', v, loc };
}

const TRUE: Term = { t: 'scalar', v: true, loc: { file: '', line: 0, col: 0 } };

function isRoot(name: string): boolean {
  return name === 'input' || name === 'data';
}

function displayVar(name: string): string {
  return name.startsWith('_$') ? '_' : name;
}

function isFunctionTarget(target: Term, root: DataNode): boolean {
  const name = callName(target);
  if (!name) return false;
  if (name === 'input' || name.startsWith('input.')) return false;
  if (name.startsWith('data.')) {
    let node: DataNode | undefined = root;
    for (const p of name.split('.').slice(1)) {
      node = node?.children.get(p);
    }
    return !!node && (node.funcs.length > 0 || node.funcDefaults.length > 0);
  }
  return builtins[name] !== undefined;
}

function refPath(t: Term): string[] | undefined {
  if (t.t === 'var') return [t.name];
  if (t.t !== 'ref' || t.head.t !== 'var') return undefined;
  const out = [t.head.name];
  for (const p of t.path) {
    if (p.t !== 'scalar' || typeof p.v !== 'string') return undefined;
    out.push(p.v);
  }
  return out;
}

function setPath(base: Value | undefined, path: string[], v: Value): Value {
  if (path.length === 0) return v;
  const o = new RObject(isObject(base) ? base.entries() : []);
  o.set(path[0]!, setPath(isObject(base) ? base.get(path[0]!) : undefined, path.slice(1), v));
  return o;
}

function insertPath(out: RObject, keys: Value[], v: Value, loc: Location): void {
  let cur = out;
  for (let i = 0; i < keys.length - 1; i++) {
    const next = cur.get(keys[i]!);
    if (next === undefined) {
      const o = new RObject();
      cur.set(keys[i]!, o);
      cur = o;
    } else if (isObject(next)) cur = next;
    else throw new RegoError('eval_conflict_error', 'object keys must be unique', loc);
  }
  const last = keys[keys.length - 1]!;
  const prev = cur.get(last);
  if (prev !== undefined && !equal(prev, v)) throw new RegoError('eval_conflict_error', 'object keys must be unique', loc);
  cur.set(last, v);
}

function index(v: Value, key: Value): Value | undefined {
  if (Array.isArray(v)) return typeof key === 'number' && Number.isInteger(key) && key >= 0 ? v[key] : undefined;
  if (v instanceof RObject) return v.get(key);
  if (v instanceof RSet) return v.has(key) ? key : undefined;
  return undefined;
}

/** What iteration visits: arrays by index, objects by key order, sets in order (OPA's order, so results are deterministic). */
function members(v: Value): [Value, Value][] {
  if (Array.isArray(v)) return v.map((x, i) => [i, x]);
  if (v instanceof RObject) return v.sortedEntries();
  if (v instanceof RSet) return v.sorted().map((x) => [x, x]);
  return [];
}
