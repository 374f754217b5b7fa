import type { Location } from './errors.ts';

export type Scalar = null | boolean | number | string;

export type Term =
  | { t: 'scalar'; v: Scalar; loc: Location }
  | { t: 'var'; name: string; loc: Location }
  | { t: 'ref'; head: Term; path: Term[]; loc: Location }
  | { t: 'array'; items: Term[]; loc: Location }
  | { t: 'set'; items: Term[]; loc: Location }
  | { t: 'object'; entries: [Term, Term][]; loc: Location }
  | { t: 'arraycomp'; head: Term; body: Literal[]; loc: Location }
  | { t: 'setcomp'; head: Term; body: Literal[]; loc: Location }
  | { t: 'objcomp'; key: Term; value: Term; body: Literal[]; loc: Location }
  /** `op` is the function as written: a var (`count`), or a ref of names (`time.now_ns`, `data.lib.f`). */
  | { t: 'call'; op: Term; args: Term[]; loc: Location }
  /** An evaluated value standing in for a term (never produced by the parser). */
  | { t: 'value'; v: unknown; loc: Location };

export interface With {
  target: Term;
  value: Term;
  loc: Location;
}

export type Literal =
  | { k: 'expr'; term: Term; neg: boolean; withs: With[]; loc: Location }
  | { k: 'some'; vars: string[]; loc: Location }
  | { k: 'somein'; key: Term | undefined; value: Term; coll: Term; withs: With[]; loc: Location }
  | { k: 'every'; key: Term | undefined; value: Term; domain: Term; body: Literal[]; withs: With[]; loc: Location };

export interface ElseClause {
  value: Term | undefined;
  body: Literal[];
  loc: Location;
}

export interface Rule {
  /** `set`: `p contains x` (v0: `p[x]`); `value`: one value at the head's ref; `func`: `f(x) := y`. */
  kind: 'set' | 'value' | 'func';
  /** The head's ref: a var, then names or terms (`a.b[x]`). */
  path: Term[];
  args: Term[] | undefined;
  /** A set rule's member. */
  member: Term | undefined;
  value: Term | undefined;
  body: Literal[];
  isDefault: boolean;
  elses: ElseClause[];
  loc: Location;
}

export interface Import {
  /** `data.x.y`, `input.x`, `future.keywords.in`, `rego.v1` as names. */
  path: string[];
  alias: string | undefined;
  loc: Location;
}

export interface Module {
  file: string;
  pkg: string[];
  imports: Import[];
  rules: Rule[];
  /** Parsed as Rego v1 (keywords always on, `if` and `contains` required). */
  v1: boolean;
}
