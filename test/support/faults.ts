import { appendFileSync } from 'node:fs';

/**
 * The machine-readable record behind docs/reliability.md: each fault test
 * (and each corpus case) states what it did and what came of it, and
 * `scripts/reliability-table.ts` turns the lines into the table. Without
 * SIGWATCH_FAULT_LOG this is a no-op, so ordinary test runs write nothing.
 */

export interface FaultRecord {
  /** What was broken: `registry`, `sts`, `sns`, `dynamodb`, `s3`, `lambda`… */
  component: string;
  /** The fault, in a few words: `HTTP 503 forever`, `connection reset`. */
  fault: string;
  /** What sigwatch did: `deny: registry answered HTTP 503 (3 attempts)`. */
  outcome: string;
  /** Whether an image was admitted because of the fault (must be false). */
  admitted: boolean;
  /** Whether a verdict or record was lost (must be false). */
  lost: boolean;
  /** The test that shows it: `test/e2e/faults-registry.test.ts: 503 forever`. */
  test: string;
}

export interface CorpusRecord {
  kind: string;
  case: string;
  /** `error`, `deny`, `rejected`, `ignored`…: never `admit`. */
  outcome: string;
  admitted: boolean;
  /** A TypeError or any throw that is not the module's own typed error. */
  crashed: boolean;
}

const logFile = (): string | undefined => process.env.SIGWATCH_FAULT_LOG || undefined;

export function recordFault(record: FaultRecord): void {
  const file = logFile();
  if (file) appendFileSync(file, `${JSON.stringify({ type: 'fault', ...record })}\n`);
}

export function recordCorpusCase(record: CorpusRecord): void {
  const file = logFile();
  if (file) appendFileSync(file, `${JSON.stringify({ type: 'corpus', ...record })}\n`);
}
