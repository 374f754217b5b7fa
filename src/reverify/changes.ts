import { isNoVerdict, type NoVerdict, type Verdict } from '../policy/verdict.ts';
import type { StoredVerdict, VerdictRecord } from '../store/verdicts.ts';

/**
 * What makes a re-verified verdict worth telling a team (docs/reverify.md):
 * - the verdict changed (admit→deny, deny→admit, anything→error and back);
 * - a `mode: warn` policy fails that did not before (new warnings);
 * - the image had no verdict yet and this one is not an admit (an image
 *   pushed before sigwatch watched its account, or whose push verdict was lost).
 * The same verdict again is not news, even when its reasons are worded
 * differently (a deny that stays a deny for another reason is still the deny
 * the team already heard about).
 */

export type Change = 'first' | 'verdict' | 'new-warnings';

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

export function changeOf(previous: Pick<VerdictRecord, 'verdict' | 'warnings'> | undefined, current: Judgement): Change | undefined {
  if (!previous) return current.verdict === 'admit' ? undefined : 'first';
  if (previous.verdict !== current.verdict) return 'verdict';
  const before = new Set(previous.warnings);
  return current.warnings.some((w) => !before.has(w)) ? 'new-warnings' : undefined;
}
