import type { TrustMaterial } from '@sigstore/verify';
import { reasonOf } from '../errors.ts';
import { checkAuthority } from './authority.ts';
import { evaluatePolicies, noMatchEvaluation } from './admission.ts';
import type { NoMatchBehaviour } from '../policy/types.ts';
import type { ClusterImagePolicy, Source, TrustRoot } from '../policy/types.ts';
import { unverifiedCause, type Verdict, type VerdictError } from './verdict.ts';
import { isUnavailable, withinDeadline } from '../deadline.ts';
import { parseReference, type ImageRef } from '../registry/reference.ts';
import { openTarget, policyMatchName, type ImageTarget } from '../registry/target.ts';
import { DEFAULT_MAX_SIGNATURE_LAYER_BYTES, type Repository } from '../registry/types.ts';
import { fetchLegacySignatures } from './evidence/legacy-signature/fetch.ts';
import { fetchReferrerBundles, type BundleLookup } from './evidence/bundle/fetch.ts';
import { fetchLegacyAttestations, type AttestationLookup } from './evidence/attestation/fetch.ts';
import { defaultPolicyEvaluator, type PolicyEvaluator } from './policy-engines/evaluate.ts';
import { specPolicyEvaluator } from './spec-policy.ts';
import type { SignatureLookup } from './evidence/legacy-signature/types.ts';
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
  /**
   * The verification's deadline (src/deadline.ts). The caller opens its
   * repositories with it (`deps.registry`); here it bounds the waits that
   * are not registry requests (TUF, KMS, secrets), and tells a deny that is
   * "could not verify" (`Verdict.error`) from one on the evidence.
   */
  signal?: AbortSignal;
}

/**
 * One image from reference to verdict: its digest, the policies that match it,
 * its signatures (fetched once per source and shared by all authorities), and
 * the policy-controller admission rule. Fails closed: an error anywhere is a
 * deny whose reason names it.
 */
export async function verifyImage(target: ImageTarget, selectPolicies: PolicySelector, deps: VerifyDeps, opts: VerifyOptions = {}): Promise<Verdict> {
  const image = target.input;
  const { signal } = opts;
  const deny = (digest: string, reason: string, error?: VerdictError): Verdict => ({
    image,
    digest,
    verdict: 'deny',
    policies: [],
    reasons: [reason],
    ...(error ? { error } : {}),
  });
  let repository: Repository;
  let digest: string;
  try {
    const opened = openTarget(target, deps.registry);
    repository = opened.repository;
    const resolved = await repository.resolve(opened.reference);
    if (!resolved) return deny('', `image not found: ${repository.location} has no ${opened.reference}`);
    digest = resolved;
  } catch (err) {
    const reason = `cannot resolve the image: ${reasonOf(err)}`;
    return deny('', reason, isUnavailable(err) ? { code: err.code, message: reason } : undefined);
  }
  // Policies are chosen only now: like the admission webhook, by the digest reference.
  const { name, literal } = policyMatchName(target, digest);
  const policies = selectPolicies(name, literal);
  if (policies.length === 0) return { image, digest, ...noMatchEvaluation(opts.noMatch ?? 'deny') };
  const maxLayerBytes = opts.maxSignatureLayerBytes ?? DEFAULT_MAX_SIGNATURE_LAYER_BYTES;
  // Where an authority's signatures live: `source.oci`, else the image's own
  // repository, opened with the authority's pull secrets when it names any.
  const signatureRepository = (source: Source | undefined): Repository => {
    const names = pullSecretNames(source);
    if (source?.oci) return deps.registry(parseReference(source.oci), names);
    if (names.length > 0 && target.kind === 'registry') return deps.registry(target.ref, names);
    return repository;
  };
  const lookups = new Map<string, Promise<SignatureLookup>>();
  const signatures = (source: Source | undefined): Promise<SignatureLookup> => {
    const repo = signatureRepository(source);
    const key = `${repo.location}|${source?.tagPrefix ?? ''}|${pullSecretNames(source).join(',')}`;
    let lookup = lookups.get(key);
    if (!lookup) {
      const searched = `tag ${source?.tagPrefix ?? ''}${digest.replace(':', '-')}.sig in ${repo.location}`;
      lookup = fetchLegacySignatures(repo, digest, { tagPrefix: source?.tagPrefix, maxLayerBytes }).then((l) => ({ ...l, searched }));
      lookups.set(key, lookup);
    }
    return lookup;
  };
  const bundleLookups = new Map<string, Promise<BundleLookup>>();
  const bundles = (source: Source | undefined): Promise<BundleLookup> => {
    const repo = signatureRepository(source);
    const key = `${repo.location}|${pullSecretNames(source).join(',')}`;
    let lookup = bundleLookups.get(key);
    if (!lookup) {
      const searched = `the referrers of ${digest} in ${repo.location}`;
      lookup = fetchReferrerBundles(repo, digest, { maxLayerBytes }).then((l) => ({ ...l, searched }));
      bundleLookups.set(key, lookup);
    }
    return lookup;
  };
  const attestationLookups = new Map<string, Promise<AttestationLookup>>();
  const attestations = (source: Source | undefined): Promise<AttestationLookup> => {
    const repo = signatureRepository(source);
    const key = `${repo.location}|${source?.tagPrefix ?? ''}|${pullSecretNames(source).join(',')}`;
    let lookup = attestationLookups.get(key);
    if (!lookup) {
      lookup = fetchLegacyAttestations(repo, digest, { tagPrefix: source?.tagPrefix, maxLayerBytes });
      attestationLookups.set(key, lookup);
    }
    return lookup;
  };
  const policyEvaluator = deps.policyEvaluator ?? defaultPolicyEvaluator();
  // sigstoreKeys as given; remote and repository through TUF, cached for the process until expiry.
  const trustRoot = (name: string): Promise<TrustMaterial> =>
    withinDeadline(deps.trustRootResolver.lookup(deps.trustRoots, name), signal, `trust root ${name}`);
  const { kmsKey: resolveKms, secretKey: resolveSecret } = deps;
  const kmsKey = resolveKms && ((kms: string) => withinDeadline(resolveKms(kms), signal, `KMS key ${kms}`));
  const secretKey = resolveSecret && ((name: string) => withinDeadline(resolveSecret(name), signal, `key secret ${name}`));
  const evaluation = await evaluatePolicies(
    policies,
    (policy, i) =>
      checkAuthority(policy.spec.authorities[i]!, {
        imageDigest: digest,
        signatures,
        bundles,
        defaultTrust: deps.trust ?? publicGoodTrustMaterial,
        trustRoot,
        kmsKey,
        secretKey,
        attestations,
        policy: policyEvaluator,
      }),
    opts.noMatch ?? 'deny',
    specPolicyEvaluator(policyEvaluator),
  );
  const error = unverifiedCause(evaluation.policies, evaluation.verdict);
  return { image, digest, ...evaluation, ...(error ? { error } : {}) };
}

function pullSecretNames(source: Source | undefined): string[] {
  return (source?.signaturePullSecrets ?? []).map((s) => s.name);
}
