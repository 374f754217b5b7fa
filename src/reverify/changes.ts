import { isNoVerdict, type NoVerdict, type Verdict } from '../verify/verdict.ts';
import type { VerdictRecord } from '../store/verdicts.ts';
import type { Judgement } from '../store/verdict-record.ts';

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

/** Runs in a row an admitted image must fail to be verified before that is published (SIGWATCH_ERROR_RUNS). */
export const DEFAULT_ERROR_RUNS = 2;

/**
 * Whether a "could not verify" (a deadline, an unreachable registry) of an
 * admitted image is held back: the registry may be down for an hour, and an
 * admit→error alert for every image in it trains teams to ignore sigwatch.
 * Held, the stored admit stands and the run counts the image as
 * `unverified`; once the error persists for `errorRuns` runs in a row it is
 * published as the change it is. Other errors (a role that refuses sigwatch,
 * invalid policies) and other previous verdicts are news at once.
 * Returns the runs in a row so far when held, undefined when not.
 */
export function heldUnverified(
  previous: Pick<VerdictRecord, 'verdict' | 'unverifiedRuns'> | undefined,
  verdict: Verdict | NoVerdict,
  errorRuns: number,
): number | undefined {
  if (isNoVerdict(verdict) || !verdict.error || previous?.verdict !== 'admit') return undefined;
  const runs = (previous.unverifiedRuns ?? 0) + 1;
  return runs < errorRuns ? runs : undefined;
}

export function changeOf(previous: Pick<VerdictRecord, 'verdict' | 'warnings'> | undefined, current: Judgement): Change | undefined {
  if (!previous) return current.verdict === 'admit' ? undefined : 'first';
  if (previous.verdict !== current.verdict) return 'verdict';
  const before = new Set(previous.warnings);
  return current.warnings.some((w) => !before.has(w)) ? 'new-warnings' : undefined;
}
