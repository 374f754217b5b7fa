import { jsonLogger, type Logger } from '../../src/observability/log.ts';
import { testNow } from './clock.ts';

export type LogEntry = Record<string, unknown> & { level: string; message: string };

/** The real JSON logger, every level, writing each entry parsed into `entries`: tests read what would reach CloudWatch. */
export function recordingLogger(entries: LogEntry[]): Logger {
  return jsonLogger({ write: (line) => entries.push(JSON.parse(line) as LogEntry), level: 'debug', now: testNow });
}
