import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SigwatchError } from '../errors.ts';

/** node's parseArgs, with its errors turned into usage errors (exit 2). */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(command: string, args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new SigwatchError('USAGE', `${command}: ${(err as Error).message}`);
  }
}

export function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new SigwatchError('USAGE', `${flag} must be one of ${allowed.join(', ')}, got "${value}"`);
}

const DURATION_RE = /^(\d{1,7})(ms|s|m|h)$/;
const DURATION_UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** `500ms`, `5s`, `2m`, `1h` as milliseconds (a usage error otherwise, naming the flag). */
export function parseDuration(flag: string, value: string): number {
  const m = DURATION_RE.exec(value);
  const ms = m ? Number(m[1]) * DURATION_UNIT_MS[m[2] as keyof typeof DURATION_UNIT_MS] : NaN;
  if (!(ms > 0)) throw new SigwatchError('USAGE', `${flag} must be a positive duration such as 5s, 2m or 500ms, got "${value}"`);
  return ms;
}
