import type { RegoErrorCode } from '../errors.ts';
import { RObject, RSet, typeName, type Value } from '../values.ts';

/** A built-in's failure; OPA leaves the expression undefined unless strict, or `halt` is set. */
export class BuiltinError extends Error {
  readonly code: RegoErrorCode;
  readonly halt: boolean;
  constructor(message: string, code: RegoErrorCode = 'eval_builtin_error', halt = false) {
    super(message);
    this.code = code;
    this.halt = halt;
  }
}

export interface BuiltinContext {
  /** ms since epoch for time.now_ns (one value per evaluation, as OPA fixes it per query). */
  now: number | undefined;
  cache: Map<string, unknown>;
}

export interface Builtin {
  arity: number;
  fn: (args: Value[], ctx: BuiltinContext) => Value | undefined;
}

export type Registry = Record<string, Builtin>;

export function typeErr(pos: number, want: string, got: Value): BuiltinError {
  return new BuiltinError(`operand ${pos} must be ${want} but got ${typeName(got)}`, 'eval_type_error');
}

export function str(args: Value[], i: number): string {
  const v = args[i]!;
  if (typeof v !== 'string') throw typeErr(i + 1, 'string', v);
  return v;
}
export function num(args: Value[], i: number): number {
  const v = args[i]!;
  if (typeof v !== 'number') throw typeErr(i + 1, 'number', v);
  return v;
}
export function int(args: Value[], i: number): number {
  const v = num(args, i);
  if (!Number.isInteger(v)) throw new BuiltinError(`operand ${i + 1} must be integer number but got floating-point number`, 'eval_type_error');
  return v;
}
export function bool(args: Value[], i: number): boolean {
  const v = args[i]!;
  if (typeof v !== 'boolean') throw typeErr(i + 1, 'boolean', v);
  return v;
}
export function arr(args: Value[], i: number): Value[] {
  const v = args[i]!;
  if (!Array.isArray(v)) throw typeErr(i + 1, 'array', v);
  return v;
}
export function obj(args: Value[], i: number): RObject {
  const v = args[i]!;
  if (!(v instanceof RObject)) throw typeErr(i + 1, 'object', v);
  return v;
}
export function set(args: Value[], i: number): RSet {
  const v = args[i]!;
  if (!(v instanceof RSet)) throw typeErr(i + 1, 'set', v);
  return v;
}
/** An array or a set, as a list. */
export function collection(args: Value[], i: number, want = 'one of {array, set}'): Value[] {
  const v = args[i]!;
  if (Array.isArray(v)) return v;
  if (v instanceof RSet) return v.values();
  throw typeErr(i + 1, want, v);
}
export function strings(args: Value[], i: number, want = 'one of {array, set}'): string[] {
  const list = collection(args, i, want);
  const kind = Array.isArray(args[i]) ? 'array' : 'set';
  return list.map((s) => {
    if (typeof s !== 'string')
      throw new BuiltinError(`operand ${i + 1} must be ${kind} of strings but got ${kind} containing ${typeName(s)}`, 'eval_type_error');
    return s;
  });
}
