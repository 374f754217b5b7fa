import { reasonOf } from '../errors.ts';
import { checkAuthority } from '../policy/authority.ts';
import { evaluatePolicies, noMatchEvaluation, type NoMatchBehaviour } from '../policy/evaluate.ts';
import type { ClusterImagePolicy, Source } from '../policy/types.ts';
import type { Verdict } from '../policy/verdict.ts';
import { parseReference, type ImageRef } from '../registry/reference.ts';
import { openTarget, type ImageTarget } from '../registry/target.ts';
import { DEFAULT_MAX_SIGNATURE_LAYER_BYTES, type Repository } from '../registry/types.ts';
import { fetchLegacySignatures } from '../signatures/legacy.ts';
import type { SignatureLookup } from '../signatures/types.ts';

export interface VerifyDeps {
  /** Opens a registry repository (with the process's shared client). */
  registry: (ref: ImageRef) => Repository;
}

export interface VerifyOptions {
  noMatch?: NoMatchBehaviour;
  maxSignatureLayerBytes?: number;
}

/**
 * One image from reference to verdict: the policies that match it, its digest,
 * its signatures (fetched once per source and shared by all authorities), and
 * the policy-controller admission rule. Fails closed: an error anywhere is a
 * deny whose reason names it.
 */
export async function verifyImage(
  target: ImageTarget,
  policies: ClusterImagePolicy[],
  deps: VerifyDeps,
  opts: VerifyOptions = {},
): Promise<Verdict> {
  const image = target.input;
  const deny = (digest: string, reason: string): Verdict => ({ image, digest, verdict: 'deny', policies: [], reasons: [reason] });
  if (policies.length === 0) {
    // Nothing to check: no network, and the digest only if the reference names it.
    const digest = target.kind === 'registry' ? (target.ref.digest ?? '') : '';
    return { image, digest, ...noMatchEvaluation(opts.noMatch ?? 'deny') };
  }
  let repository: Repository;
  let digest: string;
  try {
    const opened = openTarget(target, deps.registry);
    repository = opened.repository;
    const resolved = await repository.resolve(opened.reference);
    if (!resolved) return deny('', `image not found: ${repository.location} has no ${opened.reference}`);
    digest = resolved;
  } catch (err) {
    return deny('', `cannot resolve the image: ${reasonOf(err)}`);
  }
  const maxLayerBytes = opts.maxSignatureLayerBytes ?? DEFAULT_MAX_SIGNATURE_LAYER_BYTES;
  const lookups = new Map<string, Promise<SignatureLookup>>();
  const signatures = (source: Source | undefined): Promise<SignatureLookup> => {
    const repo = source?.oci ? deps.registry(parseReference(source.oci)) : repository;
    const key = `${repo.location}|${source?.tagPrefix ?? ''}`;
    let lookup = lookups.get(key);
    if (!lookup) {
      lookup = fetchLegacySignatures(repo, digest, { tagPrefix: source?.tagPrefix, maxLayerBytes });
      lookups.set(key, lookup);
    }
    return lookup;
  };
  const evaluation = await evaluatePolicies(
    policies,
    (policy, i) => checkAuthority(policy.spec.authorities[i]!, { imageDigest: digest, signatures }),
    opts.noMatch ?? 'deny',
  );
  return { image, digest, ...evaluation };
}
