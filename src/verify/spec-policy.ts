import type { ClusterImagePolicy } from '../policy/types.ts';
import type { AuthorityResult, SignerIdentity } from './verdict.ts';
import type { AttestationAuthorityResult } from './attestations.ts';
import type { PolicyEvaluator } from './policy-engines/evaluate.ts';

/** Evaluates a ClusterImagePolicy's own `spec.policy` over its passing authorities: undefined when it passes, else why not. */
export type SpecPolicyEvaluator = (policy: ClusterImagePolicy, authorities: AuthorityResult[]) => Promise<string | undefined>;

interface PolicySignature {
  id?: string;
  subject?: string;
  issuer?: string;
}

interface AuthorityMatch {
  signatures?: PolicySignature[];
  attestations?: Record<string, (PolicySignature & { predicateType?: string; digest?: string })[]>;
  static?: boolean;
}

/**
 * The document policy-controller's `ValidatePolicy` hands a CIP-level policy:
 * its `PolicyResult` as JSON, `{"authorityMatches": {<authority>: {signatures |
 * attestations | static}}}`, with only the authorities that passed. Two
 * differences, both documented: `id` is the signature's digest (upstream
 * hashes signature and certificate), and `subject` is the SAN that matched
 * the identity (upstream takes the certificate's first SAN). GitHub
 * certificate extensions are not included.
 */
function policyResultDocument(policy: ClusterImagePolicy, authorities: AuthorityResult[]): { authorityMatches: Record<string, AuthorityMatch> } {
  const matches: Record<string, AuthorityMatch> = {};
  authorities.forEach((result, i) => {
    if (result.verdict !== 'pass') return;
    const spec = policy.spec.authorities[i];
    if (spec?.static) {
      matches[result.name] = { static: true };
      return;
    }
    const attestations = (result as Partial<AttestationAuthorityResult>).attestations;
    if (spec?.attestations?.length && attestations) {
      const byName: NonNullable<AuthorityMatch['attestations']> = {};
      for (const a of attestations) {
        byName[a.name] = a.matches.map((m) => ({ ...policySignature(m.digest, m.identity), predicateType: m.predicateType, digest: m.digest }));
      }
      matches[result.name] = { attestations: byName };
      return;
    }
    matches[result.name] = { signatures: result.signatures.map((s) => policySignature(s.digest, s.identity)) };
  });
  return { authorityMatches: matches };
}

function policySignature(id: string, identity: SignerIdentity): PolicySignature {
  return { id, ...(identity.subject ? { subject: identity.subject } : {}), ...(identity.issuer ? { issuer: identity.issuer } : {}) };
}

/** What a CIP-level policy may ask to see that sigwatch, checking images rather than pods, cannot give. */
function unavailable(policy: ClusterImagePolicy): string | undefined {
  const p = policy.spec.policy;
  if (!p) return undefined;
  if (p.fetchConfigFile) return 'spec.policy.fetchConfigFile is not supported yet (image config files are not read)';
  for (const field of ['includeSpec', 'includeObjectMeta', 'includeTypeMeta'] as const) {
    if (p[field]) return `spec.policy.${field} cannot be honoured: sigwatch checks images, not Kubernetes resources, so there is no resource to include`;
  }
  return undefined;
}

export function specPolicyEvaluator(evaluate: PolicyEvaluator): SpecPolicyEvaluator {
  return async (policy, authorities) => {
    const check = policy.spec.policy;
    if (!check) return undefined;
    const refused = unavailable(policy);
    if (refused) return refused;
    return evaluate('ClusterImagePolicy', check, policyResultDocument(policy, authorities));
  };
}
