/** How a verdict is kept: its judgement (admit/deny/warn/error and failing warn policies) and the record the verdict store holds. */
import { isNoVerdict, type NoVerdict, type Verdict } from '../verify/verdict.ts';
import type { StoredVerdict, VerdictRecord } from './verdicts.ts';

export interface Judgement {
  verdict: StoredVerdict;
  /** Names of the failing `mode: warn` policies. */
  warnings: string[];
}

export function judgementOf(verdict: Verdict | NoVerdict): Judgement {
  // A deny that is "could not verify" is an error, not news about the image.
  if (isNoVerdict(verdict) || verdict.error) return { verdict: 'error', warnings: [] };
  const warnings = verdict.policies.filter((p) => p.mode === 'warn' && p.verdict === 'fail').map((p) => p.name);
  return { verdict: verdict.verdict, warnings: [...new Set(warnings)].sort() };
}

/**
 * The verdict store's record of a verification. Both on-push and
 * re-verification store their verdicts through it, so that the first
 * re-verification of an image compares with the verdict its team heard at
 * push time.
 */
export function verdictRecordOf(
  key: { account: string; region: string; repository: string; digest: string },
  outcome: { verdict: Verdict | NoVerdict; policySetVersion: string },
  trigger: string,
  time: Date,
  /** The stored verdict, when the caller read it: its `since` carries on while the verdict stays. */
  before?: VerdictRecord,
): VerdictRecord {
  const v = outcome.verdict;
  const verdict = judgementOf(v).verdict;
  const policyVersions: Record<string, string> = {};
  if (!isNoVerdict(v)) for (const p of v.policies) if (p.source) policyVersions[p.source.file] = p.source.version ?? '';
  return {
    ...key,
    verdict,
    reasons: isNoVerdict(v) ? [v.error] : v.reasons,
    warnings: judgementOf(v).warnings,
    time: time.toISOString(),
    since: before && before.verdict === verdict ? (before.since ?? before.time) : time.toISOString(),
    policyVersions,
    policySetVersion: outcome.policySetVersion,
    trigger,
  };
}
