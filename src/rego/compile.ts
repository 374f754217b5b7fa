import type { Literal, Module, Rule, Term } from './ast.ts';
import { RegoError, type Location } from './errors.ts';

/** A rule after name resolution, with the module it came from. */
export interface CompiledRule extends Rule {
  module: Module;
  /** The head's path below its node, when the head has terms that are not plain names (`p[x]`, `a.b[k].c`). */
  dynamic: Term[];
}

/** One node of `data`: the rules whose head's static part ends here, and deeper nodes. */
export interface DataNode {
  path: string[];
  children: Map<string, DataNode>;
  rules: CompiledRule[];
  defaults: CompiledRule[];
  funcs: CompiledRule[];
  /** `default f(_) := v`. */
  funcDefaults: CompiledRule[];
}

function newNode(path: string[]): DataNode {
  return { path, children: new Map(), rules: [], defaults: [], funcs: [], funcDefaults: [] };
}

export function child(node: DataNode, name: string): DataNode {
  let c = node.children.get(name);
  if (!c) {
    c = newNode([...node.path, name]);
    node.children.set(name, c);
  }
  return c;
}

const ROOTS = new Set(['data', 'input']);

function dataRef(path: string[], loc: Location): Term {
  return { t: 'ref', head: { t: 'var', name: 'data', loc }, path: path.map((p) => ({ t: 'scalar', v: p, loc })), loc };
}

function refFromNames(names: string[], loc: Location): Term {
  if (names.length === 1) return { t: 'var', name: names[0]!, loc };
  return { t: 'ref', head: { t: 'var', name: names[0]!, loc }, path: names.slice(1).map((p) => ({ t: 'scalar', v: p, loc })), loc };
}

/** Resolves the names a module's rules use (rules of its package, imports, input, data) into refs. */
class Resolver {
  private globals = new Map<string, Term>();
  private mod: Module;
  constructor(mod: Module, ruleNames: Set<string>) {
    this.mod = mod;
    for (const name of ruleNames) this.globals.set(name, dataRef([...mod.pkg, name], { file: mod.file, line: 0, col: 0 }));
    for (const imp of mod.imports) {
      if (imp.path[0] === 'future' || imp.path[0] === 'rego') continue;
      const alias = imp.alias ?? imp.path[imp.path.length - 1]!;
      if (imp.path.length === 1 && !imp.alias) continue;
      this.globals.set(alias, refFromNames(imp.path, imp.loc));
    }
  }

  private global(name: string, loc: Location): Term | undefined {
    const g = this.globals.get(name);
    if (!g) return undefined;
    return { ...g, loc };
  }

  rule(r: Rule): Rule {
    const locals = new Set<string>();
    const args = r.args?.map((a) => {
      varsOf(a, locals);
      return this.term(a, locals);
    });
    const body = this.body(r.body, locals);
    const path = r.path.map((p, i) => (i === 0 ? p : this.term(p, locals)));
    const member = r.member && this.term(r.member, locals);
    const value = r.value && this.term(r.value, locals);
    const elses = r.elses.map((e) => {
      const l2 = new Set(locals0(r, args));
      const eb = this.body(e.body, l2);
      return { ...e, body: eb, value: e.value && this.term(e.value, l2) };
    });
    return { ...r, args, body, path, member, value, elses };
  }

  body(lits: Literal[], locals: Set<string>): Literal[] {
    return lits.map((l) => this.literal(l, locals));
  }

  private withs(ws: { target: Term; value: Term; loc: Location }[], locals: Set<string>) {
    return ws.map((w) => ({ ...w, target: this.withTarget(w.target), value: this.term(w.value, locals) }));
  }

  /** `with` targets name input, data or a function; names resolve without locals. */
  private withTarget(t: Term): Term {
    return this.term(t, new Set());
  }

  literal(l: Literal, locals: Set<string>): Literal {
    switch (l.k) {
      case 'some':
        for (const v of l.vars) locals.add(v);
        return l;
      case 'somein': {
        const coll = this.term(l.coll, locals);
        if (l.key) varsOf(l.key, locals);
        varsOf(l.value, locals);
        return { ...l, coll, key: l.key && this.term(l.key, locals), value: this.term(l.value, locals), withs: this.withs(l.withs, locals) };
      }
      case 'every': {
        const domain = this.term(l.domain, locals);
        const inner = new Set(locals);
        if (l.key) varsOf(l.key, inner);
        varsOf(l.value, inner);
        const key = l.key && this.term(l.key, inner);
        const value = this.term(l.value, inner);
        return { ...l, domain, key, value, body: this.body(l.body, inner), withs: this.withs(l.withs, locals) };
      }
      case 'expr': {
        const t = l.term;
        if (t.t === 'call' && t.op.t === 'var' && t.op.name === 'assign') {
          const right = this.term(t.args[1]!, locals);
          const declared = new Set<string>();
          varsOf(t.args[0]!, declared);
          for (const v of declared) {
            if (this.globals.has(v) && !locals.has(v) && this.mod.rules.some((r) => r.path[0]!.t === 'var' && (r.path[0] as { name: string }).name === v)) {
              // OPA: a local may not shadow a rule of its own package through :=.
              throw new RegoError('rego_compile_error', `var ${v} assigned above`, t.loc);
            }
            locals.add(v);
          }
          return { ...l, term: { ...t, args: [this.term(t.args[0]!, locals), right] }, withs: this.withs(l.withs, locals) };
        }
        const term = this.term(t, locals);
        // Unification binds vars that are not names of something else.
        varsOfFree(term, locals);
        return { ...l, term, withs: this.withs(l.withs, locals) };
      }
    }
  }

  term(t: Term, locals: Set<string>): Term {
    switch (t.t) {
      case 'scalar':
      case 'value':
        return t;
      case 'var': {
        if (locals.has(t.name) || ROOTS.has(t.name)) return t;
        return this.global(t.name, t.loc) ?? t;
      }
      case 'ref': {
        const head = this.term(t.head, locals);
        const path = t.path.map((p) => this.term(p, locals));
        if (head.t === 'ref') return { ...t, head: head.head, path: [...head.path, ...path] };
        return { ...t, head, path };
      }
      case 'array':
        return { ...t, items: t.items.map((i) => this.term(i, locals)) };
      case 'set':
        return { ...t, items: t.items.map((i) => this.term(i, locals)) };
      case 'object':
        return { ...t, entries: t.entries.map(([k, v]) => [this.term(k, locals), this.term(v, locals)] as [Term, Term]) };
      case 'arraycomp':
      case 'setcomp': {
        const inner = new Set(locals);
        const body = this.body(t.body, inner);
        return { ...t, body, head: this.term(t.head, inner) };
      }
      case 'objcomp': {
        const inner = new Set(locals);
        const body = this.body(t.body, inner);
        return { ...t, body, key: this.term(t.key, inner), value: this.term(t.value, inner) };
      }
      case 'call': {
        let op = t.op;
        if (op.t === 'var' && !locals.has(op.name)) op = this.global(op.name, op.loc) ?? op;
        else if (op.t === 'ref' && op.head.t === 'var' && !ROOTS.has(op.head.name)) {
          const g = this.global(op.head.name, op.loc);
          if (g && g.t === 'ref') op = { ...op, head: g.head, path: [...g.path, ...op.path] };
          else if (g && g.t === 'var') op = { ...op, head: g };
        }
        return { ...t, op, args: t.args.map((a) => this.term(a, locals)) };
      }
    }
  }
}

function locals0(r: Rule, args: Term[] | undefined): Set<string> {
  const s = new Set<string>();
  for (const a of args ?? r.args ?? []) varsOf(a, s);
  return s;
}

/** Adds the vars of a term (a pattern) to `out`. */
export function varsOf(t: Term, out: Set<string>): void {
  switch (t.t) {
    case 'var':
      out.add(t.name);
      return;
    case 'ref':
      varsOf(t.head, out);
      for (const p of t.path) varsOf(p, out);
      return;
    case 'array':
    case 'set':
      for (const i of t.items) varsOf(i, out);
      return;
    case 'object':
      for (const [k, v] of t.entries) {
        varsOf(k, out);
        varsOf(v, out);
      }
      return;
    case 'call':
      for (const a of t.args) varsOf(a, out);
      return;
    default:
      return;
  }
}

/** Vars outside comprehensions (those unification may bind), skipping input/data. */
function varsOfFree(t: Term, out: Set<string>): void {
  switch (t.t) {
    case 'var':
      if (!ROOTS.has(t.name)) out.add(t.name);
      return;
    case 'ref':
      if (t.head.t !== 'var') varsOfFree(t.head, out);
      for (const p of t.path) varsOfFree(p, out);
      return;
    case 'array':
    case 'set':
      for (const i of t.items) varsOfFree(i, out);
      return;
    case 'object':
      for (const [k, v] of t.entries) {
        varsOfFree(k, out);
        varsOfFree(v, out);
      }
      return;
    case 'call':
      for (const a of t.args) varsOfFree(a, out);
      return;
    default:
      return;
  }
}

export interface Compiled {
  root: DataNode;
  modules: Module[];
}

/** Builds the tree of rules under `data` from parsed modules, resolving each rule's names. */
export function compileModules(modules: Module[]): Compiled {
  const root = newNode([]);
  const namesByPkg = new Map<string, Set<string>>();
  for (const m of modules) {
    const key = m.pkg.join('.');
    const names = namesByPkg.get(key) ?? new Set<string>();
    for (const r of m.rules) names.add((r.path[0] as { name: string }).name);
    namesByPkg.set(key, names);
  }
  for (const m of modules) {
    const resolver = new Resolver(m, namesByPkg.get(m.pkg.join('.'))!);
    let node = root;
    for (const p of m.pkg) node = child(node, p);
    const pkgNode = node;
    for (const raw of m.rules) {
      const r = resolver.rule(raw);
      let n = child(pkgNode, (r.path[0] as { name: string }).name);
      let i = 1;
      for (; i < r.path.length; i++) {
        const p = r.path[i]!;
        if (p.t === 'scalar' && typeof p.v === 'string') n = child(n, p.v);
        else break;
      }
      const dynamic = r.path.slice(i);
      const cr: CompiledRule = { ...r, module: m, dynamic };
      if (r.kind === 'func') {
        if (r.isDefault) n.funcDefaults.push(cr);
        else n.funcs.push(cr);
      } else if (r.isDefault) n.defaults.push(cr);
      else n.rules.push(cr);
      if (r.kind === 'set' && dynamic.length > 0)
        throw new RegoError('rego_parse_error', 'multi-value rules must have a ref head without variables before contains', r.loc);
    }
  }
  checkConflicts(root);
  return { root, modules };
}

function checkConflicts(node: DataNode): void {
  const kinds = new Set(node.rules.map((r) => (r.kind === 'set' ? 'set' : r.dynamic.length > 0 ? 'object' : 'value')));
  if (node.funcs.length > 0 && node.rules.length > 0)
    throw new RegoError('rego_type_error', `conflicting rules data.${node.path.join('.')} found`, node.funcs[0]!.loc);
  if (kinds.size > 1) throw new RegoError('rego_type_error', `conflicting rules data.${node.path.join('.')} found`, node.rules[0]!.loc);
  if (node.defaults.length > 1) throw new RegoError('rego_type_error', `multiple default rules data.${node.path.join('.')} found`, node.defaults[1]!.loc);
  const arities = new Set(node.funcs.map((f) => f.args!.length));
  if (arities.size > 1) throw new RegoError('rego_type_error', `conflicting rules data.${node.path.join('.')} found`, node.funcs[0]!.loc);
  for (const c of node.children.values()) checkConflicts(c);
}
