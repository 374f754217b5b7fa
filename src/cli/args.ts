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
