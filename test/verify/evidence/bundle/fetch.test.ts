import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../../../../src/clock.ts';
import { SigwatchError } from '../../../../src/errors.ts';
import { RegistryClient } from '../../../../src/registry/client.ts';
import type { Descriptor, Manifest, Repository } from '../../../../src/registry/types.ts';
import { EVIDENCE_READ_CONCURRENCY, EvidenceBudget } from '../../../../src/verify/evidence/budget.ts';
import { fetchReferrerBundles } from '../../../../src/verify/evidence/bundle/fetch.ts';
import { startHttpServer } from '../../../support/http-server.ts';
import {
  buildImage,
  bundleReferrer,
  cosignKeyBundle,
  cosignV3SignStatement,
  generateKeyPair,
  sha256Digest,
  type BuiltManifest,
} from '../../../support/index.ts';

const INDEX = 'application/vnd.oci.image.index.v1+json';
const { privateKey } = generateKeyPair();
const image = buildImage({ seed: 'bundle-fetch' });
const other = buildImage({ seed: 'bundle-fetch-other' });

/** `count` distinct cosign v3 referrers of `subject`, each with its own bundle blob (ECDSA signatures differ each time). */
async function referrers(count: number, subject = image): Promise<BuiltManifest[]> {
  return Promise.all(
    Array.from({ length: count }, async () => bundleReferrer(subject, await cosignKeyBundle(cosignV3SignStatement(subject.digest), privateKey))),
  );
}

function listing(list: BuiltManifest[]): Descriptor[] {
  return list.map((r) => ({ mediaType: r.mediaType, size: r.bytes.length, digest: r.digest, artifactType: r.json.artifactType! }));
}

describe('referrer bundles are fetched concurrently', () => {
  // A registry that holds every manifest and blob request until GATE are open at once (or TIMEOUT_MS has passed).
  const GATE = 4;
  const TIMEOUT_MS = 3000;
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  let list: BuiltManifest[];
  const state = { open: { manifests: 0, blobs: 0 }, peak: { manifests: 0, blobs: 0 }, reached: { manifests: false, blobs: false }, timedOut: 0 };
  const held: Record<'manifests' | 'blobs', (() => void)[]> = { manifests: [], blobs: [] };

  const gate = (kind: 'manifests' | 'blobs', res: ServerResponse, answer: () => void) => {
    state.open[kind]++;
    state.peak[kind] = Math.max(state.peak[kind], state.open[kind]);
    const done = () => {
      state.open[kind]--;
      answer();
    };
    if (state.reached[kind]) return done();
    if (state.open[kind] >= GATE) {
      state.reached[kind] = true;
      for (const release of held[kind].splice(0)) release();
      return done();
    }
    const timer = setTimeout(() => {
      state.timedOut++;
      state.open[kind]--;
      res.writeHead(503).end();
    }, TIMEOUT_MS);
    held[kind].push(() => {
      clearTimeout(timer);
      done();
    });
  };

  before(async () => {
    list = await referrers(12);
    const manifests = new Map(list.map((r) => [r.digest, r]));
    const blobs = new Map(list.flatMap((r) => r.blobs).map((b) => [b.digest, b.bytes]));
    server = await startHttpServer((req: IncomingMessage, res: ServerResponse) => {
      const path = new URL(req.url!, 'http://x').pathname;
      if (path === `/v2/acme/app/referrers/${image.digest}`) {
        const body = JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: listing(list) });
        return res.writeHead(200, { 'content-type': INDEX }).end(body);
      }
      const manifest = /^\/v2\/acme\/app\/manifests\/(sha256:[0-9a-f]{64})$/.exec(path)?.[1];
      if (manifest && manifests.has(manifest)) {
        const m = manifests.get(manifest)!;
        return gate('manifests', res, () => res.writeHead(200, { 'content-type': m.mediaType, 'docker-content-digest': m.digest }).end(m.bytes));
      }
      const blob = /^\/v2\/acme\/app\/blobs\/(sha256:[0-9a-f]{64})$/.exec(path)?.[1];
      if (blob && blobs.has(blob)) return gate('blobs', res, () => res.writeHead(200).end(blobs.get(blob)));
      res.writeHead(404).end();
    });
  });
  after(() => server?.close());

  it(`has ${GATE} manifest requests and ${GATE} blob requests open at once, never more than ${EVIDENCE_READ_CONCURRENCY}, results in the listing's order`, async () => {
    const client = new RegistryClient({ now: systemClock, insecureHosts: [server.host] });
    const repo = new EvidenceBudget().wrap(client.repository({ registry: server.host, repository: 'acme/app' }));
    const lookup = await fetchReferrerBundles(repo, image.digest, { maxLayerBytes: 1024 * 1024 });
    assert.equal(state.timedOut, 0, `requests waited ${TIMEOUT_MS} ms for ${GATE} open at once: fetched one after another`);
    assert.deepEqual(state.reached, { manifests: true, blobs: true });
    assert.ok(state.peak.manifests <= EVIDENCE_READ_CONCURRENCY, `${state.peak.manifests} manifest requests open at once`);
    assert.ok(state.peak.blobs <= EVIDENCE_READ_CONCURRENCY, `${state.peak.blobs} blob requests open at once`);
    assert.deepEqual(lookup.problems, []);
    assert.deepEqual(
      lookup.bundles.map((b) => b.digest),
      list.map((r) => r.digest),
    );
  });
});

/** A repository serving `list` (and one blob per referrer) with answers in reverse order of asking, counting its reads. */
function slowRepository(list: BuiltManifest[], listed = listing(list)) {
  const manifests = new Map(list.map((r) => [r.digest, r]));
  const blobs = new Map(list.flatMap((r) => r.blobs).map((b) => [b.digest, b.bytes]));
  const counts = { manifests: new Map<string, number>(), blobs: new Map<string, number>(), open: 0, peak: 0 };
  let asked = 0;
  const slow = async <T>(value: () => T): Promise<T> => {
    counts.open++;
    counts.peak = Math.max(counts.peak, counts.open);
    // Earlier requests answer later: a result order that follows arrival would show.
    await new Promise((r) => setTimeout(r, Math.max(1, 40 - 3 * (asked++ % 12))));
    counts.open--;
    return value();
  };
  const repo: Repository = {
    location: 'registry.example.com/acme/app',
    resolve: async () => undefined,
    resolveTag: async () => undefined,
    referrers: async () => listed,
    getManifest: (digest): Promise<Manifest | undefined> =>
      slow(() => {
        counts.manifests.set(digest, (counts.manifests.get(digest) ?? 0) + 1);
        const m = manifests.get(digest);
        return m && { digest: m.digest, mediaType: m.mediaType, bytes: m.bytes, json: m.json as Manifest['json'] };
      }),
    getBlob: (d) =>
      slow(() => {
        counts.blobs.set(d.digest, (counts.blobs.get(d.digest) ?? 0) + 1);
        const b = blobs.get(d.digest);
        if (!b) throw new SigwatchError('REGISTRY_NOT_FOUND', `${d.digest}: blob not found`);
        return b;
      }),
  };
  return { repo, counts };
}

describe('concurrent referrer fetches keep the caps, the budget and the order', () => {
  it("keeps problems and bundles in the listing's order, whichever answer comes first", async () => {
    const good = await referrers(6);
    const foreign = await referrers(3, other);
    // Interleaved: good, foreign (subject is another image), good, …
    const list = good.flatMap((g, i) => (foreign[i] ? [g, foreign[i]] : [g]));
    const { repo } = slowRepository(list);
    const lookup = await fetchReferrerBundles(repo, image.digest, { maxLayerBytes: 1024 * 1024 });
    assert.deepEqual(
      lookup.bundles.map((b) => b.digest),
      good.map((r) => r.digest),
    );
    assert.deepEqual(
      lookup.problems,
      foreign.map((r) => `registry.example.com/acme/app@${r.digest}: subject is ${other.digest}, not this image`),
    );
  });

  it('fetches a digest listed twice once, and a blob named by many referrers once', async () => {
    const [a, b] = await referrers(2);
    // Three referrer manifests naming one bundle blob (distinct manifests: their annotations differ).
    const sharing = [0, 1, 2].map((i) => {
      const r = bundleReferrer(image, JSON.parse(a!.blobs.at(-1)!.bytes.toString()) as Record<string, unknown>);
      const json = { ...r.json, annotations: { ...r.json.annotations, n: String(i) } };
      const bytes = Buffer.from(JSON.stringify(json));
      return { ...r, json, bytes, digest: sha256Digest(bytes) };
    });
    const list = [a!, b!, ...sharing];
    const { repo, counts } = slowRepository(list, [...listing(list), ...listing([a!, b!])]);
    const lookup = await fetchReferrerBundles(new EvidenceBudget().wrap(repo), image.digest, { maxLayerBytes: 1024 * 1024 });
    assert.deepEqual(
      lookup.bundles.map((x) => x.digest),
      list.map((r) => r.digest),
    );
    assert.ok(
      [...counts.manifests.values()].every((n) => n === 1),
      JSON.stringify([...counts.manifests]),
    );
    assert.equal(counts.blobs.get(a!.blobs.at(-1)!.digest), 1);
  });

  it(`reads at most ${EVIDENCE_READ_CONCURRENCY} at once, and stops at the read budget`, async () => {
    const list = await referrers(40);
    const { repo, counts } = slowRepository(list);
    const reads = 20;
    await assert.rejects(
      fetchReferrerBundles(new EvidenceBudget({ bytes: 32 * 1024 * 1024, reads }).wrap(repo), image.digest, { maxLayerBytes: 1024 * 1024 }),
      (err: unknown) => err instanceof SigwatchError && err.code === 'EVIDENCE_BUDGET',
    );
    const done = [...counts.manifests.values(), ...counts.blobs.values()].reduce((x, y) => x + y, 0);
    // The referrers list is a read too; no read past the budget reached the registry.
    assert.ok(done <= reads - 1, `${done} reads reached the registry`);
    assert.ok(counts.peak <= EVIDENCE_READ_CONCURRENCY, `${counts.peak} reads open at once`);
    assert.ok(counts.peak > 1, 'reads were one at a time');
  });

  it('stops at the byte budget, each blob charged before it is fetched', async () => {
    const list = await referrers(30);
    const { repo, counts } = slowRepository(list);
    const blobBytes = list[0]!.blobs.at(-1)!.bytes.length;
    const manifestBytes = Math.max(...list.map((r) => r.bytes.length));
    // Room for the listing (charged 256 bytes an entry), every manifest and a few blobs.
    const bytes = list.length * 256 + list.reduce((n, r) => n + r.bytes.length, 0) + 3 * blobBytes;
    await assert.rejects(
      fetchReferrerBundles(new EvidenceBudget({ bytes, reads: 2500 }).wrap(repo), image.digest, { maxLayerBytes: 1024 * 1024 }),
      (err: unknown) => err instanceof SigwatchError && err.code === 'EVIDENCE_BUDGET',
    );
    const size = new Map(list.flatMap((r) => [[r.digest, r.bytes.length] as const, ...r.blobs.map((b) => [b.digest, b.bytes.length] as const)]));
    const delivered = [...counts.manifests, ...counts.blobs].reduce((n, [digest, times]) => n + size.get(digest)! * times, 0);
    // A blob over the budget is never fetched; a manifest's size is known only once read, so those in flight may pass it.
    assert.ok(list.length * 256 + delivered <= bytes + EVIDENCE_READ_CONCURRENCY * manifestBytes, `${delivered} bytes delivered for a budget of ${bytes}`);
    assert.ok([...counts.blobs.values()].reduce((x, y) => x + y, 0) < list.length, 'every blob was fetched');
  });
});
