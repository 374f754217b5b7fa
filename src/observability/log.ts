/**
 * Structured logs: one JSON object per line, which CloudWatch Logs Insights
 * queries field by field. Every entry of one image carries its correlation id
 * (the event id), so `filter correlationId = "…"` shows an image's whole way.
 *
 * The one logger of every function and the CLI's `invoke`. Written here rather
 * than taken from Powertools Logger: the on-push bundle has a size budget, and
 * what is needed is twenty lines. Fields whose names say
 * they hold a secret are replaced before anything is written, a last line of
 * defence behind the rule that no credential is ever put in a log entry.
 */

import type { Clock } from '../clock.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose entries all carry `fields` too. */
  child(fields: LogFields): Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_FIELD = /pass(word)?|secret|token|authori[sz]ation|credential|externalid|accesskey|sessionkey/i;
const REDACTED = '[redacted]';

export interface JsonLoggerOptions {
  write: (line: string) => void;
  level?: LogLevel;
  fields?: LogFields;
  now: Clock;
}

export function jsonLogger(opts: JsonLoggerOptions): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const make = (base: LogFields): Logger => {
    const log =
      (level: LogLevel) =>
      (message: string, fields: LogFields = {}) => {
        if (ORDER[level] < min) return;
        opts.write(JSON.stringify(redact({ level, time: new Date(opts.now()).toISOString(), message, ...base, ...fields })));
      };
    return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), child: (fields) => make({ ...base, ...fields }) };
  };
  return make(opts.fields ?? {});
}

/** A copy of `value` with every field whose name says "secret" replaced, at any depth. */
function redact(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value instanceof Error) return { name: value.name, message: value.message };
  const out: LogFields = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_FIELD.test(k) ? REDACTED : redact(v, depth + 1);
  return out;
}

export function isLogLevel(value: string): value is LogLevel {
  return Object.hasOwn(ORDER, value);
}
