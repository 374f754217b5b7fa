import type { SpecPolicyEvaluator } from './spec-policy.ts';
import type { ClusterImagePolicy, NoMatchBehaviour } from '../policy/types.ts';
import type { AuthorityResult, Decision, PolicyResult } from './verdict.ts';

// In a cluster `match` narrows a policy to some workloads; an image has no workload.
const MATCH_NOTE = 'spec.match not applied: sigwatch checks images, not pods, so the policy applies to every image its globs match';

export interface Evaluation {
  verdict: Decision;
  policies: PolicyResult[];
  reasons: string[];
}

/** policy-controller's `no-match-policy`: what an image no policy covers gets. */
export function noMatchEvaluation(noMatch: NoMatchBehaviour): Evaluation {
  const verdict: Decision = noMatch === 'allow' ? 'admit' : noMatch;
  return { verdict, policies: [], reasons: [`no policy matches this image (no-match: ${noMatch})`] };
}

/**
 * policy-controller's admission rule: every matching policy must pass (AND),
 * a policy passes when any of its authorities does (OR); failures of
 * `mode: warn` policies only warn. All checks run concurrently: they share
 * one signature lookup per source through the caller's memoised environment.
 */
export async function evaluatePolicies(
  policies: ClusterImagePolicy[],
  checkAuthority: (policy: ClusterImagePolicy, index: number) => Promise<AuthorityResult>,
  noMatch: NoMatchBehaviour,
  /** Evaluates `spec.policy` (CUE); without it a policy that has one fails, as it cannot be checked. */
  specPolicy?: SpecPolicyEvaluator,
): Promise<Evaluation> {
  if (policies.length === 0) return noMatchEvaluation(noMatch);
  const results = await Promise.all(
    policies.map(async (policy): Promise<PolicyResult> => {
      const authorities = await Promise.all(policy.spec.authorities.map((_, i) => checkAuthority(policy, i)));
      const pass = authorities.some((a) => a.verdict === 'pass');
      const base = {
        name: policy.metadata.name,
        mode: policy.spec.mode ?? 'enforce',
        authorities,
        source: { file: policy.origin.file, ...(policy.origin.version ? { version: policy.origin.version } : {}) },
        ...(policy.spec.match?.length ? { notes: [MATCH_NOTE] } : {}),
      } as const;
      // A spec-level policy can only add conditions, and is evaluated, as upstream,
      // only once an authority passed; where it cannot be evaluated it fails.
      if (pass && policy.spec.policy) {
        if (!specPolicy) return { ...base, verdict: 'fail', reason: `spec.policy (${policy.spec.policy.type}) evaluation is not supported yet` };
        let failure: string | undefined;
        try {
          failure = await specPolicy(policy, authorities);
        } catch (err) {
          failure = `spec.policy: ${(err as Error).message}`;
        }
        if (failure !== undefined) return { ...base, verdict: 'fail', reason: failure };
      }
      return { ...base, verdict: pass ? 'pass' : 'fail' };
    }),
  );
  const failed = results.filter((p) => p.verdict === 'fail');
  const reasons = failed.map(
    (p) => `policy ${p.name}${p.mode === 'warn' ? ' (warn)' : ''}: ${p.reason ?? p.authorities.map((a) => `authority ${a.name}: ${a.reason}`).join('; ')}`,
  );
  const verdict: Decision = failed.some((p) => p.mode === 'enforce') ? 'deny' : failed.length > 0 ? 'warn' : 'admit';
  return { verdict, policies: results, reasons };
}
