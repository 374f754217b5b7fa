import { RObject, RSet, compare, equal, isObject, keyOf, typeName, type Value } from '../values.ts';
import { BuiltinError, arr, collection, int, num, obj, set, str, typeErr, type Registry } from './types.ts';

function arith(name: string, f: (a: number, b: number) => number): Registry[string] {
  return {
    arity: 2,
    fn: (a) => {
      const r = f(num(a, 0), num(a, 1));
      if (!Number.isFinite(r)) throw new BuiltinError(`${name}: result is not a finite number`);
      return r;
    },
  };
}

function members(v: Value): [Value, Value][] {
  if (Array.isArray(v)) return v.map((x, i) => [i, x]);
  if (v instanceof RObject) return v.entries();
  if (v instanceof RSet) return v.values().map((x) => [x, x]);
  return [];
}

function setOrArrayList(a: Value[], i: number): Value[] {
  return collection(a, i);
}

export const core: Registry = {
  equal: { arity: 2, fn: (a) => equal(a[0]!, a[1]!) },
  neq: { arity: 2, fn: (a) => !equal(a[0]!, a[1]!) },
  lt: { arity: 2, fn: (a) => compare(a[0]!, a[1]!) < 0 },
  lte: { arity: 2, fn: (a) => compare(a[0]!, a[1]!) <= 0 },
  gt: { arity: 2, fn: (a) => compare(a[0]!, a[1]!) > 0 },
  gte: { arity: 2, fn: (a) => compare(a[0]!, a[1]!) >= 0 },
  plus: arith('plus', (x, y) => x + y),
  mul: arith('mul', (x, y) => x * y),
  minus: {
    arity: 2,
    fn: (a) => {
      const [x, y] = a as [Value, Value];
      if (typeof x === 'number' && typeof y === 'number') return x - y;
      if (x instanceof RSet && y instanceof RSet) return new RSet(x.values().filter((v) => !y.has(v)));
      if (typeof x !== 'number' && !(x instanceof RSet)) throw typeErr(1, 'one of {number, set}', x);
      throw typeErr(2, typeof x === 'number' ? 'number' : 'set', y);
    },
  },
  div: {
    arity: 2,
    fn: (a) => {
      const x = num(a, 0);
      const y = num(a, 1);
      if (y === 0) throw new BuiltinError('divide by zero');
      return x / y;
    },
  },
  rem: {
    arity: 2,
    fn: (a) => {
      const x = num(a, 0);
      const y = num(a, 1);
      if (!Number.isInteger(x) || !Number.isInteger(y)) throw new BuiltinError('modulo on floating-point number');
      if (y === 0) throw new BuiltinError('modulo by zero');
      const r = x % y;
      return r === 0 ? 0 : r;
    },
  },
  and: {
    arity: 2,
    fn: (a) =>
      new RSet(
        set(a, 0)
          .values()
          .filter((v) => set(a, 1).has(v)),
      ),
  },
  or: { arity: 2, fn: (a) => new RSet([...set(a, 0).values(), ...set(a, 1).values()]) },
  abs: { arity: 1, fn: (a) => Math.abs(num(a, 0)) },
  ceil: { arity: 1, fn: (a) => Math.ceil(num(a, 0)) },
  floor: { arity: 1, fn: (a) => Math.floor(num(a, 0)) },
  round: {
    arity: 1,
    fn: (a) => {
      const x = num(a, 0);
      return x < 0 ? -Math.round(-x) : Math.round(x);
    },
  },
  'numbers.range': {
    arity: 2,
    fn: (a) => {
      const x = int(a, 0);
      const y = int(a, 1);
      const out: number[] = [];
      if (Math.abs(y - x) > 1_000_000) throw new BuiltinError('numbers.range: range too large', 'eval_builtin_error', true);
      if (x <= y) for (let i = x; i <= y; i++) out.push(i);
      else for (let i = x; i >= y; i--) out.push(i);
      return out;
    },
  },
  'numbers.range_step': {
    arity: 3,
    fn: (a) => {
      const x = int(a, 0);
      const y = int(a, 1);
      const s = int(a, 2);
      if (s <= 0) throw new BuiltinError('numbers.range_step: step must be a positive integer');
      if (Math.abs(y - x) / s > 1_000_000) throw new BuiltinError('numbers.range_step: range too large', 'eval_builtin_error', true);
      const out: number[] = [];
      if (x <= y) for (let i = x; i <= y; i += s) out.push(i);
      else for (let i = x; i >= y; i -= s) out.push(i);
      return out;
    },
  },
  count: {
    arity: 1,
    fn: (a) => {
      const v = a[0]!;
      if (typeof v === 'string') return [...v].length;
      if (Array.isArray(v)) return v.length;
      if (v instanceof RObject || v instanceof RSet) return v.size;
      throw typeErr(1, 'one of {array, object, set, string}', v);
    },
  },
  sum: {
    arity: 1,
    fn: (a) =>
      setOrArrayList(a, 0).reduce<number>((s, v) => {
        if (typeof v !== 'number') throw typeErr(1, 'one of {array, set} of numbers', v);
        return s + v;
      }, 0),
  },
  product: {
    arity: 1,
    fn: (a) =>
      setOrArrayList(a, 0).reduce<number>((s, v) => {
        if (typeof v !== 'number') throw typeErr(1, 'one of {array, set} of numbers', v);
        return s * v;
      }, 1),
  },
  max: {
    arity: 1,
    fn: (a) => {
      const l = setOrArrayList(a, 0);
      return l.length === 0 ? undefined : l.reduce((m, v) => (compare(v, m) > 0 ? v : m));
    },
  },
  min: {
    arity: 1,
    fn: (a) => {
      const l = setOrArrayList(a, 0);
      return l.length === 0 ? undefined : l.reduce((m, v) => (compare(v, m) < 0 ? v : m));
    },
  },
  sort: { arity: 1, fn: (a) => [...setOrArrayList(a, 0)].sort(compare) },
  all: {
    arity: 1,
    fn: (a) => setOrArrayList(a, 0).every((v) => v === true),
  },
  any: {
    arity: 1,
    fn: (a) => setOrArrayList(a, 0).some((v) => v === true),
  },
  intersection: {
    arity: 1,
    fn: (a) => {
      const sets = set(a, 0).values();
      if (sets.length === 0) return new RSet();
      for (const s of sets) if (!(s instanceof RSet)) throw typeErr(1, 'set of sets', s);
      const [first, ...rest] = sets as RSet[];
      return new RSet(first!.values().filter((v) => rest.every((r) => r.has(v))));
    },
  },
  union: {
    arity: 1,
    fn: (a) => {
      const out = new RSet();
      for (const s of set(a, 0).values()) {
        if (!(s instanceof RSet)) throw typeErr(1, 'set of sets', s);
        for (const v of s.values()) out.add(v);
      }
      return out;
    },
  },
  'array.concat': { arity: 2, fn: (a) => [...arr(a, 0), ...arr(a, 1)] },
  'array.reverse': { arity: 1, fn: (a) => [...arr(a, 0)].reverse() },
  'array.slice': {
    arity: 3,
    fn: (a) => {
      const xs = arr(a, 0);
      let s = int(a, 1);
      let e = int(a, 2);
      s = Math.max(0, s);
      e = Math.min(xs.length, e);
      return s >= e ? [] : xs.slice(s, e);
    },
  },
  is_number: { arity: 1, fn: (a) => typeof a[0] === 'number' },
  is_string: { arity: 1, fn: (a) => typeof a[0] === 'string' },
  is_boolean: { arity: 1, fn: (a) => typeof a[0] === 'boolean' },
  is_array: { arity: 1, fn: (a) => Array.isArray(a[0]) },
  is_set: { arity: 1, fn: (a) => a[0] instanceof RSet },
  is_object: { arity: 1, fn: (a) => a[0] instanceof RObject },
  is_null: { arity: 1, fn: (a) => a[0] === null },
  type_name: { arity: 1, fn: (a) => typeName(a[0]!) },
  to_number: {
    arity: 1,
    fn: (a) => {
      const v = a[0]!;
      if (v === null) return 0;
      if (typeof v === 'boolean') return v ? 1 : 0;
      if (typeof v === 'number') return v;
      if (typeof v === 'string') {
        if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(v.trim()) || v.trim() !== v) throw new BuiltinError(`invalid syntax`);
        return Number(v);
      }
      throw typeErr(1, 'one of {boolean, null, number, string}', v);
    },
  },
  'internal.member_2': {
    arity: 2,
    fn: (a) => {
      const c = a[1]!;
      if (c instanceof RSet) return c.has(a[0]!);
      return members(c).some(([, v]) => equal(v, a[0]!));
    },
  },
  'internal.member_3': {
    arity: 3,
    fn: (a) => {
      const c = a[2]!;
      if (Array.isArray(c)) return typeof a[0] === 'number' && equal(c[a[0]] ?? (undefined as unknown as Value), a[1]!) && c[a[0]] !== undefined;
      if (isObject(c)) {
        const got = c.get(a[0]!);
        return got !== undefined && equal(got, a[1]!);
      }
      if (c instanceof RSet) return equal(a[0]!, a[1]!) && c.has(a[0]!);
      return false;
    },
  },
  trace: { arity: 1, fn: (a) => (str(a, 0), true) },
  'bits.and': { arity: 2, fn: (a) => Number(BigInt(int(a, 0)) & BigInt(int(a, 1))) },
  'bits.or': { arity: 2, fn: (a) => Number(BigInt(int(a, 0)) | BigInt(int(a, 1))) },
  'bits.xor': { arity: 2, fn: (a) => Number(BigInt(int(a, 0)) ^ BigInt(int(a, 1))) },
  'bits.negate': { arity: 1, fn: (a) => Number(~BigInt(int(a, 0))) },
  'bits.lsh': { arity: 2, fn: (a) => Number(BigInt(int(a, 0)) << BigInt(int(a, 1))) },
  'bits.rsh': { arity: 2, fn: (a) => Number(BigInt(int(a, 0)) >> BigInt(int(a, 1))) },
  'object.get': {
    arity: 3,
    fn: (a) => {
      const o = obj(a, 0);
      const key = a[1]!;
      if (Array.isArray(key)) {
        let cur: Value = o;
        for (const k of key) {
          let next: Value | undefined;
          if (cur instanceof RObject) next = cur.get(k);
          else if (Array.isArray(cur) && typeof k === 'number') next = cur[k];
          else if (cur instanceof RSet) next = cur.has(k) ? k : undefined;
          if (next === undefined) return a[2]!;
          cur = next;
        }
        return cur;
      }
      return o.get(key) ?? a[2]!;
    },
  },
  'object.keys': { arity: 1, fn: (a) => new RSet(obj(a, 0).keys()) },
  'object.remove': {
    arity: 2,
    fn: (a) => {
      const o = obj(a, 0);
      const ks = a[1]!;
      const drop = ks instanceof RObject ? ks.keys() : collection(a, 1, 'one of {array, object, set}');
      const dropKeys = new Set(drop.map(keyOf));
      return new RObject(o.entries().filter(([k]) => !dropKeys.has(keyOf(k))));
    },
  },
  'object.filter': {
    arity: 2,
    fn: (a) => {
      const o = obj(a, 0);
      const ks = a[1]!;
      const keep = ks instanceof RObject ? ks.keys() : collection(a, 1, 'one of {array, object, set}');
      const keepKeys = new Set(keep.map(keyOf));
      return new RObject(o.entries().filter(([k]) => keepKeys.has(keyOf(k))));
    },
  },
  'object.union': { arity: 2, fn: (a) => mergeObjects(obj(a, 0), obj(a, 1)) },
  'object.union_n': {
    arity: 1,
    fn: (a) =>
      arr(a, 0).reduce<RObject>((acc, o, i) => {
        if (!(o instanceof RObject)) throw typeErr(1, 'array of objects', o ?? null);
        return i === 0 ? o : mergeObjects(acc, o);
      }, new RObject()),
  },
  'object.subset': { arity: 2, fn: (a) => isSubset(a[0]!, a[1]!) },
  set: { arity: 0, fn: () => new RSet() },
};

function mergeObjects(a: RObject, b: RObject): RObject {
  const out = new RObject(a.entries());
  for (const [k, v] of b.entries()) {
    const prev = out.get(k);
    out.set(k, prev instanceof RObject && v instanceof RObject ? mergeObjects(prev, v) : v);
  }
  return out;
}

function isSubset(sup: Value, sub: Value): boolean {
  if (sup instanceof RObject && sub instanceof RObject) {
    return sub.entries().every(([k, v]) => {
      const s = sup.get(k);
      if (s === undefined) return false;
      if (s instanceof RObject && v instanceof RObject) return isSubset(s, v);
      if (s instanceof RSet && v instanceof RSet) return isSubset(s, v);
      return equal(s, v);
    });
  }
  if (sup instanceof RSet && sub instanceof RSet) return sub.values().every((v) => sup.has(v));
  if (Array.isArray(sup) && Array.isArray(sub)) {
    if (sub.length === 0) return true;
    for (let i = 0; i + sub.length <= sup.length; i++) if (sub.every((v, j) => equal(v, sup[i + j]!))) return true;
    return false;
  }
  if (Array.isArray(sup) && sub instanceof RSet) return sub.values().every((v) => sup.some((w) => equal(v, w)));
  throw new BuiltinError('object.subset: both arguments must be objects, sets or arrays', 'eval_type_error');
}

/** walk(x) is a relation: every [path, value] under x. */
export function walkPairs(v: Value, path: Value[] = [], out: [Value[], Value][] = []): [Value[], Value][] {
  out.push([path, v]);
  for (const [k, x] of members(v)) walkPairs(x, [...path, k], out);
  return out;
}
