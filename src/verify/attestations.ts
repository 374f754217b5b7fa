import type { AttestationCheck } from '../policy/types.ts';
import type { AuthorityResult, SignerIdentity } from './verdict.ts';
import type { PolicyEvaluator } from './policy-engines/evaluate.ts';
import { predicateUri } from '../policy/predicate-types.ts';
import { policyInput, type Statement } from './evidence/attestation/statement.ts';

/** An attestation whose envelope verified for the authority and whose statement names the image. */
export interface VerifiedAttestation {
  /** Digest of the `.att` layer or of the referrer manifest. */
  digest: string;
  identity: SignerIdentity;
  statement: Statement;
}

/** One of the authority's `attestations` entries: did any verified attestation satisfy it, and why (not). */
export interface AttestationResult {
  name: string;
  predicateType: string;
  verdict: 'pass' | 'fail';
  reason: string;
  /** The attestations that matched the type and passed the policy. */
  matches: { digest: string; identity: SignerIdentity; predicateType: string }[];
}

/** An authority result that also says, attestation by attestation, what passed. */
export interface AttestationAuthorityResult extends AuthorityResult {
  attestations: AttestationResult[];
}

/**
 * policy-controller's `ValidatePolicyAttestationsForAuthority`, after the
 * envelopes are verified: for each wanted attestation, the verified ones of
 * its predicate type (others are skipped, never accepted) are run through
 * its policy; it passes when at least one does. The first policy failure is
 * the reason, else the predicate types that were seen instead.
 */
export async function checkAttestations(wanted: AttestationCheck[], verified: VerifiedAttestation[], evaluate: PolicyEvaluator): Promise<AttestationResult[]> {
  const seenTypes = new Set(verified.map((v) => v.statement.predicateType));
  return Promise.all(
    wanted.map(async (w): Promise<AttestationResult> => {
      const uri = predicateUri(w.predicateType);
      const matches: AttestationResult['matches'] = [];
      let firstError: string | undefined;
      for (const v of verified) {
        if (v.statement.predicateType !== uri) continue;
        if (w.policy) {
          const failure = await evaluate(w.name, w.policy, policyInput(w.predicateType, v.statement));
          if (failure !== undefined) {
            firstError ??= `${v.digest}: ${failure}`;
            continue;
          }
        }
        // Upstream records the type as the policy wrote it (a short name stays short).
        matches.push({ digest: v.digest, identity: v.identity, predicateType: w.predicateType });
      }
      const base = { name: w.name, predicateType: w.predicateType };
      if (matches.length > 0)
        return { ...base, verdict: 'pass', reason: `${matches.length} attestation(s) of type ${uri}${w.policy ? ' passed the policy' : ''}`, matches };
      if (firstError !== undefined) return { ...base, verdict: 'fail', reason: firstError, matches };
      const seen = [...seenTypes].sort().join(',');
      return {
        ...base,
        verdict: 'fail',
        reason: `no matching attestations with type ${w.predicateType}, checked the following predicateTypes: "${seen}"`,
        matches,
      };
    }),
  );
}
