import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Descriptor, Manifest, Repository } from '../../../src/registry/types.ts';
import { fetchReferrerBundles, MAX_BUNDLE_REFERRERS } from '../../../src/verify/evidence/bundle/fetch.ts';

/** A repository whose referrers API lists `count` bundles, counting the manifests it is asked for. */
function listingRepository(count: number): Repository & { manifestReads: number } {
  const repo = {
    location: 'registry.example.com/team/app',
    manifestReads: 0,
    resolve: async () => undefined,
    resolveTag: async () => undefined,
    getManifest: async (): Promise<Manifest | undefined> => {
      repo.manifestReads++;
      return undefined;
    },
    getBlob: async () => Buffer.alloc(0),
    referrers: async (): Promise<Descriptor[]> =>
      Array.from({ length: count }, (_, i) => ({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        digest: `sha256:${i.toString(16).padStart(64, '0')}`,
        size: 100,
      })),
  };
  return repo;
}

describe('signature lookup limits', () => {
  it(`reads at most ${MAX_BUNDLE_REFERRERS} bundle referrers, and says so`, async () => {
    const repo = listingRepository(30_000);
    const lookup = await fetchReferrerBundles(repo, `sha256:${'a'.repeat(64)}`, { maxLayerBytes: 1024 });
    assert.equal(repo.manifestReads, MAX_BUNDLE_REFERRERS);
    assert.equal(lookup.bundles.length, 0);
    assert.match(lookup.problems[0]!, /30000 sigstore bundle referrers; only the first 100 were read/);
  });

  it('reads every referrer of an ordinary listing', async () => {
    const repo = listingRepository(3);
    const lookup = await fetchReferrerBundles(repo, `sha256:${'a'.repeat(64)}`, { maxLayerBytes: 1024 });
    assert.equal(repo.manifestReads, 3);
    assert.ok(!lookup.problems.some((p) => p.includes('only the first')));
  });
});
