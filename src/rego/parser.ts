import type { ElseClause, Import, Literal, Module, Rule, Term, With } from './ast.ts';
import { RegoError, type Location } from './errors.ts';
import { tokenize, type Token } from './lexer.ts';

/**
 * Built-ins that reach outside the policy (network, randomness, the host):
 * refused when the policy is parsed, so a policy that would use them never
 * runs at all, rather than failing halfway through an admission.
 */
export const REFUSED_BUILTINS: Record<string, string> = {
  'http.send': 'it makes network requests',
  'net.lookup_ip_addr': 'it makes DNS requests',
  'opa.runtime': 'it exposes the host environment',
  'rand.intn': 'it is not deterministic',
  'uuid.rfc4122': 'it is not deterministic',
  'io.jwt.decode_verify': 'it may fetch keys over the network',
};

const KEYWORDS_V1 = new Set(['if', 'contains', 'in', 'every', 'some', 'not', 'with', 'as', 'default', 'else', 'import', 'package', 'true', 'false', 'null']);

export interface ParseOptions {
  file?: string;
  /** Rego v1 (OPA 1.x default). v0 is what policy-controller uses (`ast.RegoV0`); `import rego.v1` in a v0 module switches it to v1 rules. */
  v1?: boolean;
}

class Parser {
  private toks: Token[];
  private i = 0;
  private depth = 0;
  private wild = 0;
  /** Keywords in force: all in v1; in v0 only those imported from future.keywords. */
  private keywords = new Set<string>();
  private v1: boolean;
  private file: string;

  constructor(src: string, opts: ParseOptions) {
    this.file = opts.file ?? 'policy.rego';
    this.toks = tokenize(src, this.file);
    this.v1 = opts.v1 ?? false;
    if (this.v1) for (const k of ['if', 'contains', 'in', 'every']) this.keywords.add(k);
  }

  private get tok(): Token {
    return this.toks[this.i]!;
  }
  private peek(n = 1): Token {
    return this.toks[Math.min(this.i + n, this.toks.length - 1)]!;
  }
  private next(): Token {
    const t = this.tok;
    if (t.kind !== 'eof') this.i++;
    return t;
  }
  private isOp(text: string, t = this.tok): boolean {
    return t.kind === 'op' && t.text === text;
  }
  private isKw(word: string, t = this.tok): boolean {
    return (
      t.kind === 'ident' && t.text === word && (this.keywords.has(word) || ['not', 'with', 'as', 'default', 'else', 'some', 'import', 'package'].includes(word))
    );
  }
  private fail(msg: string, loc: Location = this.tok.loc): never {
    throw new RegoError('rego_parse_error', msg, loc);
  }
  private expectOp(text: string): Token {
    if (!this.isOp(text)) this.fail(`unexpected ${this.describe()} token: expected ${text}`);
    return this.next();
  }
  private describe(t = this.tok): string {
    if (t.kind === 'eof') return 'eof';
    if (t.kind === 'string' || t.kind === 'rawstring') return 'string';
    if (t.kind === 'number') return 'number';
    if (t.kind === 'ident') return this.keywords.has(t.text) ? `${t.text} keyword` : 'ident';
    return t.text;
  }

  parseModule(): Module {
    if (!this.isKw('package')) this.fail(this.tok.kind === 'eof' ? 'empty module' : 'package expected');
    this.next();
    const pkg = this.parseNamePath('package');
    const imports: Import[] = [];
    while (this.isKw('import')) imports.push(this.parseImport());
    const rules: Rule[] = [];
    while (this.tok.kind !== 'eof') {
      if (this.isKw('import')) this.fail('imports must appear before rules');
      if (this.isKw('package')) this.fail('unexpected package keyword: a module has one package');
      rules.push(...this.parseRule());
    }
    return { file: this.file, pkg, imports, rules, v1: this.v1 };
  }

  private parseNamePath(what: string): string[] {
    const names: string[] = [];
    const first = this.next();
    if (first.kind !== 'ident') this.fail(`${what} name expected`, first.loc);
    names.push(first.text);
    for (;;) {
      if (this.isOp('.') && !this.tok.ws) {
        this.next();
        const n = this.next();
        if (n.kind !== 'ident') this.fail(`${what} path: name expected`, n.loc);
        names.push(n.text);
      } else if (this.isOp('[') && !this.tok.ws) {
        this.next();
        const s = this.next();
        if (s.kind !== 'string') this.fail(`${what} path: string expected`, s.loc);
        names.push(s.text);
        this.expectOp(']');
      } else break;
    }
    return names;
  }

  private parseImport(): Import {
    const loc = this.next().loc;
    const path = this.parseNamePath('import');
    let alias: string | undefined;
    if (this.isKw('as') && !this.tok.nl) {
      this.next();
      const a = this.next();
      if (a.kind !== 'ident') this.fail('import alias expected', a.loc);
      alias = a.text;
    }
    const root = path[0];
    if (root === 'future') {
      if (path[1] !== 'keywords' || path.length > 3) this.fail('invalid import, must be future.keywords or future.keywords.<name>', loc);
      const kws = path.length === 3 ? [path[2]!] : ['if', 'contains', 'in', 'every'];
      for (const k of kws) {
        if (!['if', 'contains', 'in', 'every'].includes(k)) this.fail(`unexpected keyword, must be one of [contains every if in]`, loc);
        this.keywords.add(k);
      }
    } else if (root === 'rego') {
      if (path.length !== 2 || path[1] !== 'v1') this.fail('invalid import, must be rego.v1', loc);
      for (const k of ['if', 'contains', 'in', 'every']) this.keywords.add(k);
      this.v1 = true;
    } else if (root !== 'data' && root !== 'input') this.fail(`invalid import ${path.join('.')}: path must begin with input or data`, loc);
    return { path, alias, loc };
  }

  private parseRule(): Rule[] {
    const loc = this.tok.loc;
    let isDefault = false;
    if (this.isKw('default')) {
      this.next();
      isDefault = true;
    }
    const headTok = this.tok;
    if (headTok.kind !== 'ident' || (KEYWORDS_V1.has(headTok.text) && this.keywords.has(headTok.text)))
      this.fail(`unexpected ${this.describe()} token: rule head expected`);
    const path = this.parseHeadRef();
    let args: Term[] | undefined;
    if (this.isOp('(') && !this.tok.ws) {
      this.next();
      this.depth++;
      args = [];
      while (!this.isOp(')')) {
        args.push(this.parseTerm());
        if (!this.isOp(',')) break;
        this.next();
      }
      this.depth--;
      this.expectOp(')');
    }
    let member: Term | undefined;
    let value: Term | undefined;
    let kind: Rule['kind'] = args ? 'func' : 'value';
    if (this.isKw('contains')) {
      if (args) this.fail('functions cannot use contains');
      this.next();
      member = this.parseTerm();
      kind = 'set';
    } else if ((this.isOp(':=') || this.isOp('=')) && !isDefault) {
      this.next();
      value = this.parseExprTerm();
    } else if (isDefault) {
      if (!this.isOp(':=') && !this.isOp('=')) this.fail('default rules must have a value');
      this.next();
      value = this.parseExprTerm();
      return [{ kind, path, args, member, value, body: [], isDefault, elses: [], loc }];
    }
    if (kind === 'value' && value === undefined && path.length > 1 && this.lastBracket && !this.v1) {
      // v0: `p[x] { … }` is a partial set.
      kind = 'set';
      member = path[path.length - 1];
      path.pop();
    }
    let body: Literal[] = [];
    let hasIf = false;
    if (this.isKw('if') && !this.tok.nl) {
      this.next();
      hasIf = true;
    }
    if (this.isOp('{')) {
      body = hasIf ? this.parseBodyOrLiteral() : this.parseBraceBody();
    } else if (hasIf) {
      body = [this.parseLiteral()];
    } else if (this.v1 && value === undefined && member === undefined) {
      this.fail(`${this.describe()} token: rule must have a body, a value or contains`, headTok.loc);
    }
    if (this.v1 && body.length > 0 && !hasIf) this.fail('`if` keyword is required before rule body', headTok.loc);
    if (this.v1 && kind === 'set' && member === undefined) this.fail('`contains` keyword is required for partial set rules', headTok.loc);
    if (kind === 'value' && value === undefined && body.length === 0 && member === undefined) this.fail('rule must have a body or a value', headTok.loc);
    const elses: ElseClause[] = [];
    while (this.isKw('else')) {
      if (kind === 'set') this.fail('else keyword cannot be used on multi-value rules');
      const eloc = this.next().loc;
      let ev: Term | undefined;
      if (this.isOp(':=') || this.isOp('=')) {
        this.next();
        ev = this.parseExprTerm();
      }
      let ehasIf = false;
      if (this.isKw('if')) {
        this.next();
        ehasIf = true;
      }
      let eb: Literal[] = [];
      if (this.isOp('{')) eb = ehasIf ? this.parseBodyOrLiteral() : this.parseBraceBody();
      else if (ehasIf) eb = [this.parseLiteral()];
      if (this.v1 && eb.length > 0 && !ehasIf) this.fail('`if` keyword is required before rule body', eloc);
      elses.push({ value: ev, body: eb, loc: eloc });
    }
    const rule: Rule = { kind, path, args, member, value, body, isDefault, elses, loc };
    // v0 allows more bodies for the same head: `p { a } { b }` means two rules.
    const rules = [rule];
    while (!this.v1 && this.isOp('{') && body.length > 0 && elses.length === 0) rules.push({ ...rule, body: this.parseBraceBody() });
    return rules;
  }

  private lastBracket = false;

  private parseHeadRef(): Term[] {
    this.lastBracket = false;
    const first = this.next();
    const path: Term[] = [{ t: 'var', name: first.text, loc: first.loc }];
    for (;;) {
      if (this.isOp('.') && !this.tok.ws) {
        this.next();
        const n = this.next();
        if (n.kind !== 'ident') this.fail('rule head: name expected', n.loc);
        path.push({ t: 'scalar', v: n.text, loc: n.loc });
        this.lastBracket = false;
      } else if (this.isOp('[') && !this.tok.ws) {
        this.next();
        this.depth++;
        this.lastBracket = true;
        path.push(this.parseTerm());
        this.depth--;
        this.expectOp(']');
      } else break;
    }
    return path;
  }

  /** After `if`, `{` opens a body, or else begins a one-literal body (`if {x | …}[_]`). */
  private parseBodyOrLiteral(): Literal[] {
    const save = this.i;
    const depth = this.depth;
    try {
      return this.parseBraceBody();
    } catch (err) {
      this.i = save;
      this.depth = depth;
      try {
        return [this.parseLiteral()];
      } catch {
        throw err;
      }
    }
  }

  private parseBraceBody(): Literal[] {
    const open = this.expectOp('{');
    const saved = this.depth;
    this.depth = 0;
    const lits: Literal[] = [];
    while (!this.isOp('}')) {
      if (this.tok.kind === 'eof') this.fail('unexpected eof token: expected }', open.loc);
      lits.push(this.parseLiteral());
      if (this.isOp(';')) {
        this.next();
        continue;
      }
      if (this.isOp('}')) break;
      if (!this.tok.nl) this.fail(`unexpected ${this.describe()} token: expected \\n or ; or }`);
    }
    this.next();
    this.depth = saved;
    if (lits.length === 0) this.fail('found empty body', open.loc);
    return lits;
  }

  private parseQueryUntil(close: string): Literal[] {
    const saved = this.depth;
    this.depth = 0;
    const lits: Literal[] = [];
    while (!this.isOp(close)) {
      if (this.tok.kind === 'eof') this.fail(`unexpected eof token: expected ${close}`);
      lits.push(this.parseLiteral());
      if (this.isOp(';')) {
        this.next();
        continue;
      }
      if (this.isOp(close)) break;
      if (!this.tok.nl) this.fail(`unexpected ${this.describe()} token: expected \\n or ; or ${close}`);
    }
    this.depth = saved;
    if (lits.length === 0) this.fail('found empty body');
    return lits;
  }

  parseQuery(): Literal[] {
    const lits: Literal[] = [];
    while (this.tok.kind !== 'eof') {
      lits.push(this.parseLiteral());
      if (this.isOp(';')) {
        this.next();
        continue;
      }
      const t: Token = this.tok;
      if (t.kind !== 'eof' && !t.nl) this.fail(`unexpected ${this.describe()} token`);
    }
    if (lits.length === 0) this.fail('empty query');
    return lits;
  }

  parseLiteral(): Literal {
    const loc = this.tok.loc;
    if (this.isKw('some')) {
      this.next();
      const first = this.parseTermNoIn();
      let key: Term | undefined;
      let value = first;
      if (this.isOp(',')) {
        const save = this.i;
        const vars: Term[] = [first];
        while (this.isOp(',')) {
          this.next();
          vars.push(this.parseTermNoIn());
        }
        if (this.isKw('in') && vars.length === 2) {
          key = vars[0];
          value = vars[1]!;
        } else if (vars.every((v) => v.t === 'var')) {
          if (this.isKw('in')) this.fail('unexpected in keyword: some expects one or two terms before in');
          return { k: 'some', vars: vars.map((v) => (v as { name: string }).name), loc };
        } else {
          this.i = save;
          this.fail('expected var in some declaration');
        }
      }
      if (this.isKw('in')) {
        this.next();
        const coll = this.parseTermRelation();
        const withs = this.parseWiths();
        return { k: 'somein', key, value, coll, withs, loc };
      }
      if (first.t !== 'var') this.fail('expected var or in keyword after some', first.loc);
      return { k: 'some', vars: [first.name], loc };
    }
    if (this.isKw('every')) {
      this.next();
      let key: Term | undefined;
      let value = this.parseTermNoIn();
      if (this.isOp(',')) {
        this.next();
        key = value;
        value = this.parseTermNoIn();
      }
      if (!this.isKw('in')) this.fail('every: expected in keyword');
      this.next();
      const domain = this.parseTermRelation();
      const body = this.parseBraceBody();
      const withs = this.parseWiths();
      return { k: 'every', key, value, domain, body, withs, loc };
    }
    let neg = false;
    if (this.isKw('not')) {
      this.next();
      neg = true;
    }
    const term = this.parseExprTerm();
    const withs = this.parseWiths();
    return { k: 'expr', term, neg, withs, loc };
  }

  private parseWiths(): With[] {
    const withs: With[] = [];
    while (this.isKw('with')) {
      const loc = this.next().loc;
      const target = this.parseTermNoIn();
      if (!this.isKw('as')) this.fail('expected as keyword after with target');
      this.next();
      const value = this.parseTermRelation();
      withs.push({ target, value, loc });
    }
    return withs;
  }

  /** A literal's expression: unification and assignment are the loosest. */
  parseExprTerm(): Term {
    const left = this.parseTermIn();
    if ((this.isOp(':=') || this.isOp('=')) && !(this.tok.nl && this.depth === 0)) {
      const op = this.next();
      const right = this.parseTermIn();
      return { t: 'call', op: { t: 'var', name: op.text === ':=' ? 'assign' : 'eq', loc: op.loc }, args: [left, right], loc: left.loc };
    }
    return left;
  }

  /** A term as found inside collections and calls (`in` included, no assignment). */
  parseTerm(): Term {
    return this.parseTermIn();
  }

  private parseTermNoIn(): Term {
    return this.parseTermRelation();
  }

  private infixAllowed(): boolean {
    return !(this.tok.nl && this.depth === 0);
  }

  private parseTermIn(): Term {
    let left = this.parseTermRelation();
    while (this.isKw('in') && this.infixAllowed()) {
      const op = this.next();
      const right = this.parseTermRelation();
      left = { t: 'call', op: { t: 'var', name: 'internal.member_2', loc: op.loc }, args: [left, right], loc: left.loc };
    }
    // `k, v in xs` as an expression.
    if (this.isOp(',') && this.depth === 0 && this.peekMember3()) {
      this.next();
      const v = this.parseTermRelation();
      const op = this.next();
      const coll = this.parseTermRelation();
      return { t: 'call', op: { t: 'var', name: 'internal.member_3', loc: op.loc }, args: [left, v, coll], loc: left.loc };
    }
    return left;
  }

  private peekMember3(): boolean {
    if (!this.keywords.has('in')) return false;
    const save = this.i;
    const saveDepth = this.depth;
    try {
      this.next();
      this.depth = 1;
      this.parseTermRelation();
      return this.isKw('in');
    } catch {
      return false;
    } finally {
      this.i = save;
      this.depth = saveDepth;
    }
  }

  private binary(ops: Record<string, string>, sub: () => Term): Term {
    let left = sub();
    for (;;) {
      if (this.tok.kind !== 'op' || !(this.tok.text in ops) || !this.infixAllowed()) return left;
      const op = this.next();
      const right = sub();
      left = { t: 'call', op: { t: 'var', name: ops[op.text]!, loc: op.loc }, args: [left, right], loc: left.loc };
    }
  }

  private parseTermRelation(): Term {
    return this.binary({ '==': 'equal', '!=': 'neq', '<': 'lt', '<=': 'lte', '>': 'gt', '>=': 'gte' }, () => this.parseTermOr());
  }
  private parseTermOr(): Term {
    return this.binary({ '|': 'or' }, () => this.parseTermAnd());
  }
  private parseTermAnd(): Term {
    return this.binary({ '&': 'and' }, () => this.parseTermArith());
  }
  private parseTermArith(): Term {
    return this.binary({ '+': 'plus', '-': 'minus' }, () => this.parseTermFactor());
  }
  private parseTermFactor(): Term {
    return this.binary({ '*': 'mul', '/': 'div', '%': 'rem' }, () => this.parseUnary());
  }

  private parseUnary(): Term {
    if (this.isOp('-')) {
      const op = this.next();
      if (this.tok.kind === 'number' && !this.tok.ws) {
        const n = this.next();
        return this.parseRefTail({ t: 'scalar', v: -Number(n.text), loc: op.loc });
      }
      const operand = this.parseUnary();
      return { t: 'call', op: { t: 'var', name: 'minus', loc: op.loc }, args: [{ t: 'scalar', v: 0, loc: op.loc }, operand], loc: op.loc };
    }
    return this.parseRefTail(this.parsePrimary());
  }

  private parsePrimary(): Term {
    const t = this.tok;
    const loc = t.loc;
    switch (t.kind) {
      case 'number':
        this.next();
        return { t: 'scalar', v: Number(t.text), loc };
      case 'string':
      case 'rawstring':
        this.next();
        return { t: 'scalar', v: t.text, loc };
      case 'ident': {
        if (t.text === 'true' || t.text === 'false') {
          this.next();
          return { t: 'scalar', v: t.text === 'true', loc };
        }
        if (t.text === 'null') {
          this.next();
          return { t: 'scalar', v: null, loc };
        }
        // `contains(s, x)` is still the built-in where `contains` is a keyword.
        const builtinCall = t.text === 'contains' && this.isOp('(', this.peek()) && !this.peek().ws;
        if (!builtinCall && (this.keywords.has(t.text) || ['not', 'with', 'as', 'default', 'else', 'some', 'import', 'package'].includes(t.text))) {
          this.fail(`unexpected ${t.text} keyword`);
        }
        this.next();
        if (t.text === '_') return { t: 'var', name: `_$${this.wild++}`, loc };
        return { t: 'var', name: t.text, loc };
      }
      case 'op':
        if (t.text === '(') {
          this.next();
          this.depth++;
          let inner = this.parseExprTerm();
          // `(k, v in xs)`: membership with a key, grouped.
          if (this.isOp(',') && this.peekMember3()) {
            this.next();
            const v = this.parseTermRelation();
            const op = this.next();
            const coll = this.parseTermRelation();
            inner = { t: 'call', op: { t: 'var', name: 'internal.member_3', loc: op.loc }, args: [inner, v, coll], loc: inner.loc };
          }
          this.depth--;
          this.expectOp(')');
          return inner;
        }
        if (t.text === '[') return this.parseArray();
        if (t.text === '{') return this.parseBraced();
        break;
      default:
        break;
    }
    return this.fail(`unexpected ${this.describe()} token`);
  }

  private parseRefTail(head: Term): Term {
    let cur = head;
    for (;;) {
      if (this.isOp('.') && !this.tok.ws) {
        this.next();
        const n = this.next();
        if (n.kind !== 'ident') this.fail(`unexpected ${this.describe(n)} token: expected name after .`, n.loc);
        cur = appendRef(cur, { t: 'scalar', v: n.text, loc: n.loc });
      } else if (this.isOp('[') && !this.tok.ws) {
        this.next();
        this.depth++;
        const key = this.parseTerm();
        this.depth--;
        this.expectOp(']');
        cur = appendRef(cur, key);
      } else if (this.isOp('(') && !this.tok.ws && isCallable(cur)) {
        this.next();
        this.depth++;
        const args: Term[] = [];
        while (!this.isOp(')')) {
          args.push(this.parseTerm());
          if (!this.isOp(',')) break;
          this.next();
        }
        this.depth--;
        this.expectOp(')');
        const name = callName(cur);
        if (name && REFUSED_BUILTINS[name]) {
          throw new RegoError(
            'rego_parse_error',
            `${name} is not allowed: ${REFUSED_BUILTINS[name]}; sigwatch evaluates policies without network, file or host access`,
            cur.loc,
          );
        }
        cur = { t: 'call', op: cur, args, loc: cur.loc };
      } else return cur;
    }
  }

  private parseArray(): Term {
    const open = this.next();
    this.depth++;
    if (this.isOp(']')) {
      this.next();
      this.depth--;
      return { t: 'array', items: [], loc: open.loc };
    }
    const first = this.parseTermNoOr();
    if (this.isOp('|')) {
      this.next();
      const body = this.parseQueryUntil(']');
      this.depth--;
      this.expectOp(']');
      return { t: 'arraycomp', head: first, body, loc: open.loc };
    }
    const items = [this.continueTerm(first)];
    while (this.isOp(',')) {
      this.next();
      if (this.isOp(']')) break;
      items.push(this.parseTerm());
    }
    this.depth--;
    this.expectOp(']');
    return { t: 'array', items, loc: open.loc };
  }

  private parseBraced(): Term {
    const open = this.next();
    this.depth++;
    if (this.isOp('}')) {
      this.next();
      this.depth--;
      return { t: 'object', entries: [], loc: open.loc };
    }
    const first = this.parseTermNoOr();
    if (this.isOp('|')) {
      this.next();
      const body = this.parseQueryUntil('}');
      this.depth--;
      this.expectOp('}');
      return { t: 'setcomp', head: first, body, loc: open.loc };
    }
    if (this.isOp(':')) {
      this.next();
      const v1 = this.parseTermNoOr();
      if (this.isOp('|')) {
        this.next();
        const body = this.parseQueryUntil('}');
        this.depth--;
        this.expectOp('}');
        return { t: 'objcomp', key: first, value: v1, body, loc: open.loc };
      }
      const entries: [Term, Term][] = [[first, this.continueTerm(v1)]];
      while (this.isOp(',')) {
        this.next();
        if (this.isOp('}')) break;
        const k = this.parseTerm();
        this.expectOp(':');
        entries.push([k, this.parseTerm()]);
      }
      this.depth--;
      this.expectOp('}');
      return { t: 'object', entries, loc: open.loc };
    }
    const items = [this.continueTerm(first)];
    while (this.isOp(',')) {
      this.next();
      if (this.isOp('}')) break;
      items.push(this.parseTerm());
    }
    this.depth--;
    this.expectOp('}');
    return { t: 'set', items, loc: open.loc };
  }

  /** A collection's first term, parsed without `|` so a comprehension can be told apart. */
  private parseTermNoOr(): Term {
    return this.binary({ '==': 'equal', '!=': 'neq', '<': 'lt', '<=': 'lte', '>': 'gt', '>=': 'gte' }, () => this.parseTermAnd());
  }

  /** Finishes a term begun with parseTermNoOr: `|` (set union) and `in` may follow it when it is no comprehension's head. */
  private continueTerm(first: Term): Term {
    let left = first;
    while (this.isOp('|')) {
      const op = this.next();
      const right = this.parseTermAnd();
      left = { t: 'call', op: { t: 'var', name: 'or', loc: op.loc }, args: [left, right], loc: left.loc };
    }
    while (this.isKw('in')) {
      const op = this.next();
      const right = this.parseTermRelation();
      left = { t: 'call', op: { t: 'var', name: 'internal.member_2', loc: op.loc }, args: [left, right], loc: left.loc };
    }
    return left;
  }
}

function appendRef(cur: Term, key: Term): Term {
  if (cur.t === 'ref') return { t: 'ref', head: cur.head, path: [...cur.path, key], loc: cur.loc };
  return { t: 'ref', head: cur, path: [key], loc: cur.loc };
}

function isCallable(t: Term): boolean {
  if (t.t === 'var') return true;
  return t.t === 'ref' && t.head.t === 'var' && t.path.every((p) => p.t === 'scalar' && typeof p.v === 'string');
}

/** The dotted name of a function term (`time.now_ns`), if it is one. */
export function callName(t: Term): string | undefined {
  if (t.t === 'var') return t.name;
  if (t.t === 'ref' && t.head.t === 'var' && t.path.every((p) => p.t === 'scalar' && typeof p.v === 'string')) {
    return [t.head.name, ...t.path.map((p) => (p as { v: string }).v)].join('.');
  }
  return undefined;
}

export function parseModule(src: string, opts: ParseOptions = {}): Module {
  return new Parser(src, opts).parseModule();
}

export function parseQuery(src: string, opts: ParseOptions = {}): Literal[] {
  const p = new Parser(src, { v1: true, ...opts, file: opts.file ?? 'query' });
  return p.parseQuery();
}
