import type { TrustMaterial } from '@sigstore/verify';
import { isUnavailable, reasonOf } from '../errors.ts';
import { checkAuthority, type AuthorityEnv } from './authority.ts';
import { evaluatePolicies, noMatchEvaluation } from './admission.ts';
import type { ClusterImagePolicy, NoMatchBehaviour, Source, TrustRoot } from '../policy/types.ts';
import { unverifiedCause, type Verdict, type VerdictError } from './verdict.ts';
import { withinDeadline } from '../deadline.ts';
import { parseReference, type ImageRef } from '../registry/reference.ts';
import { openTarget, policyMatchName, type ImageTarget } from '../registry/target.ts';
import { DEFAULT_MAX_SIGNATURE_LAYER_BYTES, type Repository } from '../registry/types.ts';
import { EvidenceBudget, type EvidenceLimits } from './evidence/budget.ts';
import { gatherEvidence, pullSecretNames, type Evidence } from './evidence/gather.ts';
import { cosignPayload } from './evidence/legacy-signature/simple-signing.ts';
import { defaultPolicyEvaluator, type PolicyEvaluator } from './policy-engines/evaluate.ts';
import { specPolicyEvaluator } from './spec-policy.ts';
import type { PublicKey } from '../trust/keys.ts';
import type { TrustRootResolver } from '../trust/trust-roots.ts';
import { publicGoodTrustMaterial } from '../trust/trusted-root.ts';

export interface VerifyDeps {
  /**
   * Opens a registry repository (with the process's shared client). `pullSecrets`:
   * an authority's `signaturePullSecrets`, whose credentials come first for it.
   */
  registry: (ref: ImageRef, pullSecrets?: string[]) => Repository;
  /** Trust material for keyless authorities without trustRootRef (default: sigstore public good). */
  trust?: () => TrustMaterial;
  /** The `TrustRoot` resources of the policy set, for `trustRootRef`. */
  trustRoots?: TrustRoot[];
  /** Resolves `trustRootRef` (TUF results kept per process until they expire by the composition's clock). */
  trustRootResolver: Pick<TrustRootResolver, 'lookup'>;
  /** Public keys of `key.kms` references (AWS KMS through the right account). */
  kmsKey?: (kms: string) => Promise<PublicKey>;
  /** Public keys of `key.secretRef` secrets (the team's secrets). */
  secretKey?: (name: string) => Promise<PublicKey[]>;
  /** Evaluates attestation and spec-level policies (default: CUE loaded on first use, remote policies over HTTPS). */
  policyEvaluator?: PolicyEvaluator;
}

/** The policies whose globs match a name (`literal`: match the string as written). */
export type PolicySelector = (name: string, literal: boolean) => ClusterImagePolicy[];

export interface VerifyOptions {
  noMatch?: NoMatchBehaviour;
  maxSignatureLayerBytes?: number;
  /** What the image's evidence may cost in all (default DEFAULT_EVIDENCE_LIMITS); over it, the verdict is a deny. */
  evidenceLimits?: EvidenceLimits;
  /**
   * The verification's deadline (src/deadline.ts). The caller opens its
   * repositories with it (`deps.registry`); here it bounds the waits that
   * are not registry requests (TUF, KMS, secrets), and tells a deny that is
   * "could not verify" (`Verdict.error`) from one on the evidence.
   */
  signal?: AbortSignal;
}

/**
 * One image from reference to verdict, in policy-controller's order: resolve
 * the digest, select the policies that match it, gather its evidence (read
 * once per source, shared by all authorities), check each authority, apply
 * the admission rule. Fails closed: an error anywhere is a deny whose reason
 * names it, marked "could not verify" when it is one.
 */
export async function verifyImage(target: ImageTarget, selectPolicies: PolicySelector, deps: VerifyDeps, opts: VerifyOptions = {}): Promise<Verdict> {
  const noMatch = opts.noMatch ?? 'deny';
  const resolved = await resolveDigest(target, deps);
  if ('verdict' in resolved) return resolved;
  const { repository, digest } = resolved;

  // Policies are chosen only now: like the admission webhook, by the digest reference.
  const { name, literal } = policyMatchName(target, digest);
  const policies = selectPolicies(name, literal);
  if (policies.length === 0) return { image: target.input, digest, ...noMatchEvaluation(noMatch) };

  // One budget for all the image's evidence, whichever source and kind: no pushed content can exhaust memory.
  const budget = new EvidenceBudget(opts.evidenceLimits);
  // What `cosign sign` signs for this image without annotations: a `.sig` layer holding it needs no blob fetch (on ECR, a redirect to S3).
  const signedName = target.kind === 'registry' ? target.ref.repositoryName : target.as?.repositoryName;
  if (signedName !== undefined) budget.offer(cosignPayload(signedName, digest));
  const repositories = signatureRepositories(target, repository, deps);
  const evidence = gatherEvidence(digest, (source) => budget.wrap(repositories(source)), {
    maxLayerBytes: opts.maxSignatureLayerBytes ?? DEFAULT_MAX_SIGNATURE_LAYER_BYTES,
  });
  const env = authorityEnv(digest, evidence, deps, opts.signal);
  const evaluation = await evaluatePolicies(
    policies,
    (policy, i) => checkAuthority(policy.spec.authorities[i]!, env),
    noMatch,
    specPolicyEvaluator(env.policy),
  );
  const error = unverifiedCause(evaluation.policies, evaluation.verdict);
  return { image: target.input, digest, ...evaluation, ...(error ? { error } : {}) };
}

/** The image's repository and digest, or the deny that says why there is none. */
async function resolveDigest(target: ImageTarget, deps: VerifyDeps): Promise<{ repository: Repository; digest: string } | Verdict> {
  const deny = (reason: string, error?: VerdictError): Verdict => ({
    image: target.input,
    digest: '',
    verdict: 'deny',
    policies: [],
    reasons: [reason],
    ...(error ? { error } : {}),
  });
  try {
    const { repository, reference } = openTarget(target, deps.registry);
    const digest = await repository.resolve(reference);
    if (!digest) return deny(`image not found: ${repository.location} has no ${reference}`);
    return { repository, digest };
  } catch (err) {
    const reason = `cannot resolve the image: ${reasonOf(err)}`;
    return deny(reason, isUnavailable(err) ? { code: err.code, message: reason } : undefined);
  }
}

/**
 * Where an authority's evidence lives: `source.oci`, else the image's own
 * repository, opened with the authority's pull secrets when it names any.
 */
function signatureRepositories(target: ImageTarget, repository: Repository, deps: VerifyDeps): (source: Source | undefined) => Repository {
  return (source) => {
    const names = pullSecretNames(source);
    if (source?.oci) return deps.registry(parseReference(source.oci), names);
    if (names.length > 0 && target.kind === 'registry') return deps.registry(target.ref, names);
    return repository;
  };
}

/** What the authority checks read besides the evidence, each wait bounded by the verification's deadline. */
function authorityEnv(digest: string, evidence: Evidence, deps: VerifyDeps, signal: AbortSignal | undefined): AuthorityEnv & { policy: PolicyEvaluator } {
  const { kmsKey, secretKey } = deps;
  return {
    imageDigest: digest,
    signatures: evidence.signatures,
    bundles: evidence.bundles,
    attestations: evidence.attestations,
    defaultTrust: deps.trust ?? publicGoodTrustMaterial,
    // sigstoreKeys as given; remote and repository through TUF, cached for the process until expiry.
    trustRoot: (name) => withinDeadline(deps.trustRootResolver.lookup(deps.trustRoots, name), signal, `trust root ${name}`),
    kmsKey: kmsKey && ((kms) => withinDeadline(kmsKey(kms), signal, `KMS key ${kms}`)),
    secretKey: secretKey && ((name) => withinDeadline(secretKey(name), signal, `key secret ${name}`)),
    policy: deps.policyEvaluator ?? defaultPolicyEvaluator(),
  };
}
