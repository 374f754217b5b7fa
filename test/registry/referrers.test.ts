import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { SigwatchError } from '../../src/errors.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { OciLayout } from '../../src/registry/layout.ts';
import type { Descriptor } from '../../src/registry/types.ts';
import {
  buildImage,
  MediaTypes,
  pushManifest,
  sha256Digest,
  startRegistry,
  writeOciLayout,
  type Blob,
  type BuiltManifest,
  type ManifestJson,
  type TestRegistry,
} from '../support/index.ts';
import { startHttpServer } from '../support/http-server.ts';
import { testNow } from '../support/clock.ts';

const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const SBOM = 'application/spdx+json';
const EMPTY = 'application/vnd.oci.empty.v1+json';

function blob(mediaType: string, text: string): Blob {
  const bytes = Buffer.from(text);
  return { mediaType, bytes, digest: sha256Digest(bytes) };
}

const descriptorOf = (b: { mediaType: string; digest: string; bytes: Buffer }) => ({ mediaType: b.mediaType, digest: b.digest, size: b.bytes.length });

/** A referrer as cosign v3 writes a bundle (`WriteReferrer`): empty config, one layer, `subject`, `artifactType`. */
function referrerOf(subject: BuiltManifest, artifactType: string, content: string): BuiltManifest {
  const config = blob(EMPTY, '{}');
  const layer = blob(artifactType, content);
  const json = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    artifactType,
    config: descriptorOf(config),
    layers: [descriptorOf(layer)],
    subject: descriptorOf(subject),
    annotations: { 'dev.sigstore.bundle.content': 'dsse-envelope' },
  };
  const bytes = Buffer.from(JSON.stringify(json));
  return { mediaType: json.mediaType, bytes, digest: sha256Digest(bytes), json: json as unknown as ManifestJson, blobs: [config, layer] };
}

/** The index go-containerregistry keeps under the referrers tag when the registry has no API. */
function referrersIndex(referrers: BuiltManifest[]): BuiltManifest {
  const json = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociIndex,
    manifests: referrers.map((r) => ({ ...descriptorOf(r), artifactType: (r.json as unknown as { artifactType: string }).artifactType })),
  };
  const bytes = Buffer.from(JSON.stringify(json));
  return { mediaType: json.mediaType, bytes, digest: sha256Digest(bytes), json: json as unknown as ManifestJson, blobs: [], children: referrers };
}

const tagOf = (digest: string) => digest.replace(':', '-');
/** What the referrers API (and our layout) answer for a referrer: with its artifactType and annotations. */
const listed = (r: BuiltManifest): Descriptor => ({
  ...descriptorOf(r),
  artifactType: (r.json as unknown as { artifactType: string }).artifactType,
  annotations: { 'dev.sigstore.bundle.content': 'dsse-envelope' },
});
/** What the fallback index lists: no annotations. */
const indexed = (r: BuiltManifest): Descriptor => ({ ...descriptorOf(r), artifactType: listed(r).artifactType });
const kinds = (c: RegistryClient) => Object.fromEntries(c.http.counter.byKind);

const image = buildImage({ seed: 'referred' });
const bundle = referrerOf(image, BUNDLE, '{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}');
const sbom = referrerOf(image, SBOM, '{"spdxVersion":"SPDX-2.3"}');
const other = buildImage({ seed: 'referred-other' });
const otherBundle = referrerOf(other, BUNDLE, '{"other":true}');

describe('referrers tag fallback against docker-registry (which has no referrers API)', () => {
  let registry: TestRegistry;
  const open = (c: RegistryClient, name = 'team/app') => c.repository({ registry: registry.host, repository: name });

  before(async () => {
    registry = await startRegistry();
    // As cosign v3 with go-containerregistry pushes to a registry without the API: the
    // referrers by digest, then the index under the `sha256-<hex>` tag.
    await pushManifest(registry, 'team/app', 'v1', image);
    await pushManifest(registry, 'team/app', bundle.digest, bundle);
    await pushManifest(registry, 'team/app', sbom.digest, sbom);
    await pushManifest(registry, 'team/app', tagOf(image.digest), referrersIndex([bundle, sbom]));
    await pushManifest(registry, 'other/app', 'v1', other);
    await pushManifest(registry, 'other/app', otherBundle.digest, otherBundle);
    await pushManifest(registry, 'other/app', tagOf(other.digest), referrersIndex([otherBundle]));
  });
  after(() => registry?.stop());

  it('lists the referrers from the sha256-<hex> tag after the API answers 404', async () => {
    const c = new RegistryClient({ now: testNow, insecureHosts: [registry.host] });
    assert.deepEqual(await open(c).referrers(image.digest), [indexed(bundle), indexed(sbom)]);
    assert.deepEqual(kinds(c), { referrers: 1, manifest: 1 });
  });

  it('filters by artifactType on the client (the tag schema cannot filter)', async () => {
    const c = new RegistryClient({ now: testNow, insecureHosts: [registry.host] });
    assert.deepEqual(await open(c).referrers(image.digest, SBOM), [indexed(sbom)]);
    assert.deepEqual(await open(c).referrers(image.digest, 'application/vnd.example.none'), []);
  });

  it('remembers per registry that the API is absent: later lookups cost the tag alone', async () => {
    const c = new RegistryClient({ now: testNow, insecureHosts: [registry.host] });
    await open(c).referrers(image.digest);
    c.http.counter.reset();
    assert.deepEqual(await open(c, 'other/app').referrers(other.digest), [indexed(otherBundle)]);
    assert.deepEqual(await open(c).referrers(image.digest, BUNDLE), [indexed(bundle)]);
    assert.deepEqual(kinds(c), { manifest: 2 });
  });

  it('has no referrers for an image nothing refers to', async () => {
    const c = new RegistryClient({ now: testNow, insecureHosts: [registry.host] });
    assert.deepEqual(await open(c).referrers(sha256Digest('nothing refers to this')), []);
  });

  it('lists referrers that, fetched by digest, name the image as subject', async () => {
    const c = new RegistryClient({ now: testNow, insecureHosts: [registry.host] });
    const [first] = await open(c).referrers(image.digest, BUNDLE);
    const m = await open(c).getManifest(first!.digest);
    assert.equal(m?.json.subject?.digest, image.digest);
  });

  it('refuses a subject that is not a sha256 digest, before any round trip', async () => {
    const c = new RegistryClient({ now: testNow, insecureHosts: [registry.host] });
    await assert.rejects(open(c).referrers('v1'), (e: SigwatchError) => e.code === 'REFERENCE_INVALID');
    assert.equal(c.http.counter.total, 0);
  });
});

describe('referrers API (a local OCI 1.1 registry)', () => {
  /** How the server treats `artifactType`, and what else it does wrong. */
  let mode: 'filters' | 'ignores-filter' | 'pages' | 'link-elsewhere' | 'huge';
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  const all = [listed(bundle), listed(sbom)];

  before(async () => {
    server = await startHttpServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      const index = (manifests: Descriptor[], headers: Record<string, string> = {}) =>
        res
          .writeHead(200, { 'content-type': MediaTypes.ociIndex, ...headers })
          .end(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests }));
      if (url.pathname.startsWith('/v2/missing/')) {
        return res
          .writeHead(404, { 'content-type': 'application/json' })
          .end('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}');
      }
      if (url.pathname !== `/v2/team/app/referrers/${image.digest}`) return res.writeHead(404).end();
      const type = url.searchParams.get('artifactType');
      if (mode === 'filters' && type)
        return index(
          all.filter((d) => d.artifactType === type),
          { 'oci-filters-applied': 'artifactType' },
        );
      if (mode === 'pages' && !url.searchParams.has('last')) {
        return index([all[0]!], { link: `</v2/team/app/referrers/${image.digest}?n=1&last=${bundle.digest}>; rel="next"` });
      }
      if (mode === 'pages') return index([all[1]!]);
      if (mode === 'link-elsewhere') return index([all[0]!], { link: `<http://elsewhere.example/v2/team/app/referrers/${image.digest}?last=x>; rel="next"` });
      if (mode === 'huge') return index(Array.from({ length: 40_000 }, () => all[0]!));
      index(all);
    });
  });
  after(() => server?.close());
  beforeEach(() => {
    mode = 'filters';
    server.requests.length = 0;
  });

  const client = () => new RegistryClient({ now: testNow, insecureHosts: [server.host] });
  const open = (c: RegistryClient, name = 'team/app') => c.repository({ registry: server.host, repository: name });

  it('lists what the API answers, in one round trip', async () => {
    const c = client();
    assert.deepEqual(await open(c).referrers(image.digest), all);
    assert.deepEqual(kinds(c), { referrers: 1 });
    assert.equal(server.requests[0]!.headers.accept, MediaTypes.ociIndex);
  });

  it('passes artifactType to a server that filters (OCI-Filters-Applied)', async () => {
    const c = client();
    assert.deepEqual(await open(c).referrers(image.digest, BUNDLE), [listed(bundle)]);
    assert.equal(new URL(server.requests[0]!.url!, 'http://x').searchParams.get('artifactType'), BUNDLE);
  });

  it('filters on the client when the server ignores artifactType', async () => {
    mode = 'ignores-filter';
    const c = client();
    assert.deepEqual(await open(c).referrers(image.digest, SBOM), [listed(sbom)]);
    assert.equal(server.requests.length, 1);
  });

  it('follows Link pages within the repository', async () => {
    mode = 'pages';
    const c = client();
    assert.deepEqual(await open(c).referrers(image.digest), all);
    assert.deepEqual(kinds(c), { referrers: 2 });
  });

  it('refuses a next page elsewhere: it would carry the credentials away', async () => {
    mode = 'link-elsewhere';
    await assert.rejects(
      open(client()).referrers(image.digest),
      (e: SigwatchError) => e.code === 'REGISTRY_PROTOCOL' && /leaves the repository/.test(e.message),
    );
  });

  it('caps an answer at the manifest size limit', async () => {
    mode = 'huge';
    await assert.rejects(open(client()).referrers(image.digest), (e: SigwatchError) => e.code === 'TOO_LARGE' && /exceeds/.test(e.message));
  });

  it('takes NAME_UNKNOWN as a missing repository, not as a registry without the API', async () => {
    const c = client();
    assert.deepEqual(await open(c, 'missing/app').referrers(image.digest), []);
    assert.deepEqual(await open(c).referrers(image.digest), all);
    assert.deepEqual(kinds(c), { referrers: 2 });
  });

  it('keeps the memory per registry: one without the API does not write this one off', async () => {
    const plain = await startRegistry();
    try {
      const c = new RegistryClient({ now: testNow, insecureHosts: [server.host, plain.host] });
      assert.deepEqual(await c.repository({ registry: plain.host, repository: 'team/app' }).referrers(image.digest), []);
      c.http.counter.reset();
      assert.deepEqual(await open(c).referrers(image.digest), all);
      assert.deepEqual(kinds(c), { referrers: 1 });
    } finally {
      await plain.stop();
    }
  });
});

describe('OCI layout referrers', () => {
  const work = mkdtempSync(join(tmpdir(), 'sigwatch-referrers-'));
  after(() => rmSync(work, { recursive: true, force: true }));

  it('lists the manifests in index.json whose subject is the image', async () => {
    const dir = join(work, 'subjects');
    await writeOciLayout(dir, [{ tag: 'v1', manifest: image }, { manifest: bundle }, { manifest: sbom }, { tag: 'other', manifest: otherBundle }]);
    const layout = new OciLayout(dir);
    assert.deepEqual(await layout.referrers(image.digest), [listed(bundle), listed(sbom)]);
    assert.deepEqual(await layout.referrers(image.digest, SBOM), [listed(sbom)]);
    assert.deepEqual(await layout.referrers(other.digest), [listed(otherBundle)]);
  });

  it('lists the referrers tag of a layout copied from a registry without the API', async () => {
    const dir = join(work, 'tag');
    await writeOciLayout(dir, [
      { tag: 'v1', manifest: image },
      { tag: tagOf(image.digest), manifest: referrersIndex([bundle, sbom]) },
    ]);
    const layout = new OciLayout(dir);
    assert.deepEqual(await layout.referrers(image.digest), [indexed(bundle), indexed(sbom)]);
    assert.deepEqual(await layout.referrers(image.digest, BUNDLE), [indexed(bundle)]);
    assert.deepEqual(await layout.referrers(other.digest), []);
  });
});
