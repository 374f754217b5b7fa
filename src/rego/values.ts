/**
 * Rego values. Scalars are JavaScript's own (null, boolean, number, string),
 * arrays are JavaScript arrays; objects and sets get classes of their own,
 * because their keys and members can be any value (`{[1, 2]: "x"}`), and two
 * values are the same key when they are equal as Rego sees it, not when they
 * are the same JavaScript object. Values are never mutated once built.
 */
export type Value = null | boolean | number | string | Value[] | RObject | RSet;

/** A canonical text for a value: equal values, and only equal values, have the same key. */
export function keyOf(v: Value): string {
  switch (typeof v) {
    case 'string':
      return `"${v}`;
    case 'number':
      return `n${v}`;
    case 'boolean':
      return v ? 't' : 'f';
    default:
      if (v === null) return 'z';
      if (Array.isArray(v)) return `[${v.map(keyOf).join(',')}]`;
      return v.key();
  }
}

export class RSet {
  readonly map = new Map<string, Value>();
  private cachedKey: string | undefined;
  constructor(items: Iterable<Value> = []) {
    for (const v of items) this.map.set(keyOf(v), v);
  }
  get size(): number {
    return this.map.size;
  }
  has(v: Value): boolean {
    return this.map.has(keyOf(v));
  }
  /** Builds only: a set handed out is never changed again. */
  add(v: Value): void {
    this.map.set(keyOf(v), v);
    this.cachedKey = undefined;
  }
  values(): Value[] {
    return [...this.map.values()];
  }
  sorted(): Value[] {
    return this.values().sort(compare);
  }
  key(): string {
    this.cachedKey ??= `{${[...this.map.keys()].sort().join(',')}}`;
    return this.cachedKey;
  }
}

export class RObject {
  readonly map = new Map<string, [Value, Value]>();
  private cachedKey: string | undefined;
  private cachedSorted: [Value, Value][] | undefined;
  constructor(entries: Iterable<[Value, Value]> = []) {
    for (const [k, v] of entries) this.map.set(keyOf(k), [k, v]);
  }
  get size(): number {
    return this.map.size;
  }
  get(k: Value): Value | undefined {
    return this.map.get(keyOf(k))?.[1];
  }
  has(k: Value): boolean {
    return this.map.has(keyOf(k));
  }
  /** Builds only: an object handed out is never changed again. */
  set(k: Value, v: Value): void {
    this.map.set(keyOf(k), [k, v]);
    this.cachedKey = undefined;
    this.cachedSorted = undefined;
  }
  delete(k: Value): void {
    this.map.delete(keyOf(k));
    this.cachedKey = undefined;
    this.cachedSorted = undefined;
  }
  entries(): [Value, Value][] {
    return [...this.map.values()];
  }
  keys(): Value[] {
    return [...this.map.values()].map((e) => e[0]);
  }
  /** Entries in key order, as OPA iterates objects. */
  sortedEntries(): [Value, Value][] {
    this.cachedSorted ??= this.entries().sort((a, b) => compare(a[0], b[0]));
    return this.cachedSorted;
  }
  key(): string {
    this.cachedKey ??= `<${[...this.map.entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([k, [, v]]) => `${k}:${keyOf(v)}`)
      .join(',')}>`;
    return this.cachedKey;
  }
}

export function isObject(v: Value | undefined): v is RObject {
  return v instanceof RObject;
}
export function isArray(v: Value | undefined): v is Value[] {
  return Array.isArray(v);
}

export function equal(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return keyOf(a) === keyOf(b);
}

/** OPA's type order: null < boolean < number < string < array < object < set. */
function rank(v: Value): number {
  if (v === null) return 0;
  switch (typeof v) {
    case 'boolean':
      return 1;
    case 'number':
      return 2;
    case 'string':
      return 3;
    default:
      return Array.isArray(v) ? 4 : v instanceof RObject ? 5 : 6;
  }
}

/** OPA's total order over values (sorting sets, `sort`, comparisons of unlike types). */
export function compare(a: Value, b: Value): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 0:
      return 0;
    case 1:
      return a === b ? 0 : a ? 1 : -1;
    case 2:
      return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
    case 3:
      return compareStrings(a as string, b as string);
    case 4:
      return compareLists(a as Value[], b as Value[]);
    case 5: {
      const ea = (a as RObject).sortedEntries();
      const eb = (b as RObject).sortedEntries();
      for (let i = 0; i < Math.min(ea.length, eb.length); i++) {
        const c = compare(ea[i]![0], eb[i]![0]) || compare(ea[i]![1], eb[i]![1]);
        if (c !== 0) return c;
      }
      return ea.length - eb.length;
    }
    default:
      return compareLists((a as RSet).sorted(), (b as RSet).sorted());
  }
}

function compareLists(a: Value[], b: Value[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = compare(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

/** Go compares strings by bytes (UTF-8); UTF-16 code units order differently above the BMP. */
function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca < cb ? -1 : 1;
    if (ca > 0xffff) i++;
  }
  return a.length - b.length;
}

/** JSON (as parsed by JSON.parse) to a Rego value. */
export function fromJSON(j: unknown): Value {
  if (j === null || typeof j === 'boolean' || typeof j === 'number' || typeof j === 'string') return j;
  if (Array.isArray(j)) return j.map(fromJSON);
  if (typeof j === 'object') {
    const o = new RObject();
    for (const [k, v] of Object.entries(j as Record<string, unknown>)) o.set(k, fromJSON(v));
    return o;
  }
  throw new TypeError(`not a JSON value: ${typeof j}`);
}

/** A Rego value as JSON: sets become sorted arrays, object keys that are not strings become their JSON text. */
export function toJSON(v: Value): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(toJSON);
  if (v instanceof RSet) return v.sorted().map(toJSON);
  const out: Record<string, unknown> = {};
  for (const [k, val] of v.sortedEntries()) out[typeof k === 'string' ? k : JSON.stringify(toJSON(k))] = toJSON(val);
  return out;
}

export function typeName(v: Value): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return 'boolean';
    case 'number':
      return 'number';
    case 'string':
      return 'string';
    default:
      return Array.isArray(v) ? 'array' : v instanceof RObject ? 'object' : 'set';
  }
}

/** Rego's text form of a value (sprintf %v, error messages): JSON, with sets in braces. */
export function formatValue(v: Value): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(formatValue).join(', ')}]`;
  if (v instanceof RSet) return v.size === 0 ? 'set()' : `{${v.sorted().map(formatValue).join(', ')}}`;
  return `{${v
    .sortedEntries()
    .map(([k, val]) => `${formatValue(k)}: ${formatValue(val)}`)
    .join(', ')}}`;
}

function formatNumber(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return String(n);
  return String(n);
}
