import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SigwatchError } from '../../../src/errors.ts';
import { sha256Digest } from '../../../src/registry/digest.ts';
import type { Descriptor, Repository } from '../../../src/registry/types.ts';
import { EvidenceBudget } from '../../../src/verify/evidence/budget.ts';

const LAYER = 'application/vnd.dev.cosign.simplesigning.v1+json';

/** A repository holding `blobs`, counting the blob fetches it answers. */
function blobStore(blobs: Buffer[]): Repository & { fetches: string[] } {
  const byDigest = new Map(blobs.map((b) => [sha256Digest(b), b]));
  const repo = {
    location: 'registry.example.com/team/app',
    fetches: [] as string[],
    resolve: async () => undefined,
    resolveTag: async () => undefined,
    getManifest: async () => undefined,
    referrers: async () => [],
    getBlob: async (d: Descriptor) => {
      repo.fetches.push(d.digest);
      const bytes = byDigest.get(d.digest);
      if (!bytes) throw new SigwatchError('REGISTRY_NOT_FOUND', `${d.digest}: blob not found`);
      if (bytes.length !== d.size) throw new SigwatchError('DIGEST_MISMATCH', `${d.digest}: blob is ${bytes.length} bytes, descriptor says ${d.size}`);
      return bytes;
    },
  };
  return repo;
}

const descriptor = (bytes: Buffer, size = bytes.length): Descriptor => ({ mediaType: LAYER, digest: sha256Digest(bytes), size });
const isCode = (code: string) => (err: unknown) => err instanceof SigwatchError && err.code === code;

describe('EvidenceBudget.offer', () => {
  const offered = Buffer.from('{"critical":{"type":"cosign container image signature"},"optional":null}');

  it('answers a read of the offered digest without a fetch', async () => {
    const repo = blobStore([]);
    const budget = new EvidenceBudget();
    budget.offer(offered);
    const bytes = await budget.wrap(repo).getBlob(descriptor(offered), 1024);
    assert.equal(bytes.toString(), offered.toString());
    assert.deepEqual(repo.fetches, []);
  });

  it('still charges the read, so the budget holds whatever was offered', async () => {
    const budget = new EvidenceBudget({ bytes: 1024 * 1024, reads: 1 });
    budget.offer(offered);
    const repo = budget.wrap(blobStore([]));
    await repo.getBlob(descriptor(offered), 1024);
    await assert.rejects(repo.getBlob(descriptor(offered), 1024), isCode('EVIDENCE_BUDGET'));
  });

  it('refuses the offered bytes to a layer that names their digest with another size, as a fetch would', async () => {
    const repo = blobStore([]);
    const budget = new EvidenceBudget();
    budget.offer(offered);
    await assert.rejects(budget.wrap(repo).getBlob(descriptor(offered, offered.length + 1), 1024), isCode('DIGEST_MISMATCH'));
    assert.deepEqual(repo.fetches, []);
  });

  it('fetches what was not offered', async () => {
    const other = Buffer.from('{"critical":{},"optional":{"n":"1"}}');
    const repo = blobStore([other]);
    const budget = new EvidenceBudget();
    budget.offer(offered);
    assert.equal((await budget.wrap(repo).getBlob(descriptor(other), 1024)).toString(), other.toString());
    assert.deepEqual(repo.fetches, [sha256Digest(other)]);
  });
});

describe('blobs shared by digest', () => {
  it('are fetched once, and checked against each layer size', async () => {
    const blob = Buffer.from('payload');
    const repo = blobStore([blob]);
    const wrapped = new EvidenceBudget().wrap(repo);
    await wrapped.getBlob(descriptor(blob), 1024);
    assert.equal((await wrapped.getBlob(descriptor(blob), 1024)).toString(), 'payload');
    // A second layer naming the digest with a size the bytes do not have: go-containerregistry's read of it would fail.
    await assert.rejects(wrapped.getBlob(descriptor(blob, 3), 1024), isCode('DIGEST_MISMATCH'));
    assert.deepEqual(repo.fetches, [sha256Digest(blob)]);
  });
});
