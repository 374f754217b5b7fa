import { readFile } from 'node:fs/promises';
import { SigwatchError } from '../errors.ts';
import type { StoredVerdict, VerdictRecord } from '../store/verdicts.ts';
import type { TrendPoint } from './posture.ts';
import { ACCOUNT_ID_RE } from '../registry/providers/ecr-names.ts';
import { isObject } from '../json.ts';

/**
 * Verdicts kept in a file, for `sigwatch report --verdicts FILE`: a JSON
 * array of verdict records (the verdict store's fields, docs/report.md), an
 * object `{"verdicts": [...], "runs": [...]}` with earlier runs' totals for
 * the trend, or JSON lines of records. Every record is checked; a bad one is
 * an error naming its place (`verdicts[3].verdict`), never skipped: a report
 * that quietly leaves images out understates the problem.
 */

/** Larger than any verdict export a person would hand to the CLI; bigger is not one. */
const MAX_FILE_BYTES = 512 * 1024 * 1024;
const VERDICTS: readonly StoredVerdict[] = ['admit', 'deny', 'warn', 'error'];

export interface VerdictsFile {
  verdicts: VerdictRecord[];
  runs: TrendPoint[];
}

export async function readVerdictsFile(path: string): Promise<VerdictsFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new SigwatchError('USAGE', `--verdicts ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (text.length > MAX_FILE_BYTES) throw new SigwatchError('USAGE', `--verdicts ${path}: larger than ${MAX_FILE_BYTES} bytes`);
  return parseVerdictsFile(text, path);
}

export function parseVerdictsFile(text: string, where: string): VerdictsFile {
  const trimmed = text.trim();
  let records: unknown[];
  let runs: unknown[] = [];
  let base = 'verdicts';
  // A whole-file JSON value (a list, or an object with `verdicts`), else JSON lines.
  let whole: unknown;
  let isWhole = false;
  try {
    whole = JSON.parse(trimmed);
    isWhole = Array.isArray(whole) || (isObject(whole) && 'verdicts' in whole);
    if (isObject(whole) && whole.schema === 'sigwatch.posture-report')
      throw new SigwatchError('CONFIG', `${where}: a posture report, not verdicts: give the verdict records (or dynamodb://TABLE)`);
    if (!isWhole && !(isObject(whole) && 'verdict' in whole))
      throw new SigwatchError('CONFIG', `${where}: expected a list of verdict records, {"verdicts": [...]}, or JSON lines of records`);
  } catch (err) {
    if (err instanceof SigwatchError) throw err;
    if (trimmed.startsWith('[')) throw new SigwatchError('CONFIG', `${where}: not JSON`);
  }
  if (isWhole) {
    if (Array.isArray(whole)) {
      records = whole;
      base = '';
    } else {
      const value = whole as Record<string, unknown>;
      if (!Array.isArray(value.verdicts)) throw new SigwatchError('CONFIG', `${where}: verdicts: expected a list`);
      records = value.verdicts;
      if (value.runs !== undefined) {
        if (!Array.isArray(value.runs)) throw new SigwatchError('CONFIG', `${where}: runs: expected a list`);
        runs = value.runs;
      }
    }
  } else {
    records = [];
    base = 'line';
    const lines = trimmed === '' ? [] : trimmed.split('\n');
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        records.push(JSON.parse(line));
      } catch {
        throw new SigwatchError('CONFIG', `${where}: line ${i + 1}: not JSON`);
      }
    });
  }
  const at = (i: number) => (base === '' ? `[${i}]` : base === 'line' ? `record ${i + 1}` : `verdicts[${i}]`);
  return { verdicts: records.map((r, i) => recordOf(r, `${where}: ${at(i)}`)), runs: runs.map((r, i) => runOf(r, `${where}: runs[${i}]`)) };
}

function recordOf(value: unknown, where: string): VerdictRecord {
  if (!isObject(value)) throw new SigwatchError('CONFIG', `${where}: expected a verdict record (an object)`);
  const text = (key: string, required = true): string | undefined => {
    const v = value[key];
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'string' || v === '') throw new SigwatchError('CONFIG', `${where}.${key}: expected a non-empty string`);
    return v;
  };
  const list = (key: string): string[] => {
    const v = value[key];
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new SigwatchError('CONFIG', `${where}.${key}: expected a list of strings`);
    return v as string[];
  };
  const account = text('account')!;
  if (!ACCOUNT_ID_RE.test(account)) throw new SigwatchError('CONFIG', `${where}.account: expected a 12-digit AWS account id`);
  const verdict = text('verdict')!;
  if (!(VERDICTS as readonly string[]).includes(verdict))
    throw new SigwatchError('CONFIG', `${where}.verdict: expected one of ${VERDICTS.join(', ')}, got ${JSON.stringify(verdict)}`);
  const time = text('time')!;
  if (Number.isNaN(Date.parse(time))) throw new SigwatchError('CONFIG', `${where}.time: expected an RFC 3339 time`);
  const since = text('since', false);
  if (since !== undefined && Number.isNaN(Date.parse(since))) throw new SigwatchError('CONFIG', `${where}.since: expected an RFC 3339 time`);
  const versions = value.policyVersions;
  if (versions !== undefined && (!isObject(versions) || !Object.values(versions).every((v) => typeof v === 'string'))) {
    throw new SigwatchError('CONFIG', `${where}.policyVersions: expected an object of strings`);
  }
  return {
    account,
    region: text('region')!,
    repository: text('repository')!,
    digest: text('digest')!,
    verdict: verdict as StoredVerdict,
    reasons: list('reasons'),
    warnings: list('warnings'),
    time,
    ...(since !== undefined ? { since } : {}),
    policyVersions: (versions as Record<string, string> | undefined) ?? {},
    policySetVersion: typeof value.policySetVersion === 'string' ? value.policySetVersion : '',
    trigger: typeof value.trigger === 'string' ? value.trigger : '',
  };
}

function runOf(value: unknown, where: string): TrendPoint {
  if (!isObject(value) || typeof value.runId !== 'string' || typeof value.at !== 'string' || Number.isNaN(Date.parse(value.at)) || !isObject(value.counts)) {
    throw new SigwatchError('CONFIG', `${where}: expected {"runId", "at" (RFC 3339), "counts"}`);
  }
  const counts = value.counts;
  const n = (k: string) => {
    const v = counts[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new SigwatchError('CONFIG', `${where}.counts.${k}: expected a whole number`);
    return v;
  };
  return { runId: value.runId, at: value.at, counts: { images: n('images'), admit: n('admit'), deny: n('deny'), warn: n('warn'), error: n('error') } };
}
