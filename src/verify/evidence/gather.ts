import type { Source } from '../../policy/types.ts';
import type { Repository } from '../../registry/types.ts';
import { fetchLegacyAttestations, type AttestationLookup } from './attestation/fetch.ts';
import { fetchReferrerBundles, type BundleLookup } from './bundle/fetch.ts';
import { fetchLegacySignatures } from './legacy-signature/fetch.ts';
import type { SignatureLookup } from './legacy-signature/types.ts';

/**
 * All the evidence one image has, by kind and by source: legacy `.sig`
 * signatures, sigstore bundles among its referrers, legacy `.att`
 * attestations. Each is read once per source (repository, tag prefix, pull
 * secrets), however many authorities of however many policies ask for it,
 * and only when one asks.
 */
export interface Evidence {
  signatures(source: Source | undefined): Promise<SignatureLookup>;
  bundles(source: Source | undefined): Promise<BundleLookup>;
  attestations(source: Source | undefined): Promise<AttestationLookup>;
}

export interface EvidenceOptions {
  /** The cap on each signature layer, attestation layer and bundle. */
  maxLayerBytes: number;
}

/** The names of an authority's `signaturePullSecrets`. */
export function pullSecretNames(source: Source | undefined): string[] {
  return (source?.signaturePullSecrets ?? []).map((s) => s.name);
}

/** The evidence of the image `digest`, read from the repository `repositoryFor` opens for each source. */
export function gatherEvidence(digest: string, repositoryFor: (source: Source | undefined) => Repository, opts: EvidenceOptions): Evidence {
  const { maxLayerBytes } = opts;
  const once = <T>(read: (repo: Repository, source: Source | undefined) => Promise<T>, keyed: (source: Source | undefined) => string) => {
    const lookups = new Map<string, Promise<T>>();
    return (source: Source | undefined): Promise<T> => {
      const repo = repositoryFor(source);
      const key = `${repo.location}|${keyed(source)}|${pullSecretNames(source).join(',')}`;
      let lookup = lookups.get(key);
      if (!lookup) {
        lookup = read(repo, source);
        lookups.set(key, lookup);
      }
      return lookup;
    };
  };
  const tagPrefix = (source: Source | undefined) => source?.tagPrefix ?? '';
  return {
    signatures: once(async (repo, source) => {
      const searched = `tag ${tagPrefix(source)}${digest.replace(':', '-')}.sig in ${repo.location}`;
      return { ...(await fetchLegacySignatures(repo, digest, { tagPrefix: source?.tagPrefix, maxLayerBytes })), searched };
    }, tagPrefix),
    // Referrers do not depend on a tag prefix: one lookup per repository.
    bundles: once(
      async (repo) => {
        const searched = `the referrers of ${digest} in ${repo.location}`;
        return { ...(await fetchReferrerBundles(repo, digest, { maxLayerBytes })), searched };
      },
      () => '',
    ),
    attestations: once((repo, source) => fetchLegacyAttestations(repo, digest, { tagPrefix: source?.tagPrefix, maxLayerBytes }), tagPrefix),
  };
}
