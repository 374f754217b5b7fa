import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { X509Certificate as SigstoreCertificate } from '@sigstore/core';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { PolicyError, VerificationError, toSignedEntity, toTrustMaterial, Verifier, type VerificationPolicy } from '@sigstore/verify';
import {
  buildImage,
  buildIndex,
  createKeylessFixture,
  CosignAnnotations,
  deleteManifest,
  generateKeyPair,
  legacySignatureManifest,
  MediaTypes,
  pushManifest,
  rawGet,
  sha256Digest,
  signatureTag,
  signImageWithKey,
  signPayload,
  simpleSigningPayload,
  startRegistry,
  writeOciLayout,
  type BuiltManifest,
  type Identity,
  type KeylessFixture,
  type TestRegistry,
  type TrustedRootJson,
} from './index.ts';

async function getManifest(reg: TestRegistry, repo: string, reference: string) {
  const res = await rawGet(reg, `/v2/${repo}/manifests/${reference}`);
  return {
    status: res.status,
    digest: res.headers.get('docker-content-digest'),
    mediaType: res.headers.get('content-type'),
    bytes: Buffer.from(await res.arrayBuffer()),
  };
}

async function assertStored(reg: TestRegistry, repo: string, reference: string, m: BuiltManifest): Promise<void> {
  const got = await getManifest(reg, repo, reference);
  assert.equal(got.status, 200, `${repo}:${reference}`);
  assert.equal(got.digest, m.digest);
  assert.equal(got.mediaType, m.mediaType);
  assert.deepEqual(got.bytes, m.bytes);
}

describe('test registry', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry();
  });
  after(() => reg.stop());

  it('serves the v2 API without auth', async () => {
    const res = await rawGet(reg, '/v2/');
    assert.equal(res.status, 200);
    assert.match(reg.host, /^127\.0\.0\.1:\d+$/);
  });

  it('stores an image by tag and digest, with its blobs', async () => {
    const image = buildImage({ seed: 'single', layers: 2 });
    assert.deepEqual(buildImage({ seed: 'single', layers: 2 }).digest, image.digest, 'deterministic from the seed');
    await pushManifest(reg, 'app/single', 'v1', image);
    await assertStored(reg, 'app/single', 'v1', image);
    await assertStored(reg, 'app/single', image.digest, image);
    const config = image.json.config!;
    const blob = await rawGet(reg, `/v2/app/single/blobs/${config.digest}`);
    assert.equal(sha256Digest(Buffer.from(await blob.arrayBuffer())), config.digest);
  });

  it('stores OCI indexes and Docker manifest lists with their platform images', async () => {
    const amd64 = buildImage({ seed: 'multi' });
    const arm64 = buildImage({ seed: 'multi', platform: { os: 'linux', architecture: 'arm64' } });
    const index = buildIndex([amd64, arm64]);
    await pushManifest(reg, 'app/multi', 'v1', index);
    await assertStored(reg, 'app/multi', 'v1', index);
    assert.deepEqual(
      index.json.manifests!.map((d) => d.platform?.architecture),
      ['amd64', 'arm64'],
    );
    await assertStored(reg, 'app/multi', arm64.digest, arm64);

    const dockerChildren = [
      buildImage({ seed: 'docker', mediaType: 'docker' }),
      buildImage({ seed: 'docker', mediaType: 'docker', platform: { os: 'linux', architecture: 'arm64' } }),
    ];
    const list = buildIndex(dockerChildren, { mediaType: 'docker' });
    await pushManifest(reg, 'app/docker', 'v1', list);
    await assertStored(reg, 'app/docker', 'v1', list);
    await assertStored(reg, 'app/docker', dockerChildren[0]!.digest, dockerChildren[0]!);
    assert.equal(dockerChildren[0]!.json.config!.mediaType, MediaTypes.dockerConfig);
  });

  it('deletes manifests by digest', async () => {
    const image = buildImage({ seed: 'doomed' });
    await pushManifest(reg, 'app/doomed', 'v1', image);
    await deleteManifest(reg, 'app/doomed', image.digest);
    assert.equal((await getManifest(reg, 'app/doomed', image.digest)).status, 404);
  });

  it('holds a key-signed .sig manifest whose signature verifies, as cosign writes it', async () => {
    const image = buildImage({ seed: 'signed' });
    await pushManifest(reg, 'app/signed', 'v1', image);
    const { privateKey, publicKeyPem } = generateKeyPair();
    const sig = await signImageWithKey(reg, 'app/signed', image, privateKey);
    await assertStored(reg, 'app/signed', signatureTag(image.digest), sig);

    const layer = sig.json.layers![0]!;
    assert.equal(layer.mediaType, 'application/vnd.dev.cosign.simplesigning.v1+json');
    const payload = Buffer.from(await (await rawGet(reg, `/v2/app/signed/blobs/${layer.digest}`)).arrayBuffer());
    const claims = JSON.parse(payload.toString());
    assert.equal(claims.critical.image['docker-manifest-digest'], image.digest);
    assert.equal(claims.critical.identity['docker-reference'], `${reg.host}/app/signed`);
    const signature = Buffer.from(layer.annotations![CosignAnnotations.signature]!, 'base64');
    assert.ok(cryptoVerify('sha256', payload, publicKeyPem, signature));
    assert.ok(!cryptoVerify('sha256', payload, generateKeyPair().publicKeyPem, signature));

    const config = JSON.parse(sig.blobs.find((b) => b.digest === sig.json.config!.digest)!.bytes.toString());
    assert.deepEqual(config.rootfs.diff_ids, [layer.digest], 'cosign layers are uncompressed: diff_id = digest');
  });

  it('signs with every key type cosign can verify', () => {
    const payload = simpleSigningPayload('registry.example/app', sha256Digest('x'));
    for (const alg of ['ecdsa-p256', 'ecdsa-p384', 'rsa', 'ed25519'] as const) {
      const { privateKey, publicKeyPem } = generateKeyPair(alg);
      const signature = Buffer.from(signPayload(payload, privateKey), 'base64');
      assert.ok(cryptoVerify(alg === 'ed25519' ? null : 'sha256', payload, publicKeyPem, signature), alg);
    }
  });
});

describe('test registry with auth', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry({ auth: { username: 'ci', password: 's3cret' } });
  });
  after(() => reg.stop());

  it('refuses anonymous and wrong credentials, accepts the right ones', async () => {
    const anonymous = await rawGet({ ...reg, auth: undefined }, '/v2/');
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /Basic realm="sigwatch-test"/);
    assert.equal((await rawGet({ ...reg, auth: { username: 'ci', password: 'nope' } }, '/v2/')).status, 401);
    assert.equal((await rawGet(reg, '/v2/')).status, 200);
  });

  it('pushes and reads back with Basic auth', async () => {
    const image = buildImage({ seed: 'private' });
    await pushManifest(reg, 'private/app', 'v1', image);
    await assertStored(reg, 'private/app', 'v1', image);
    assert.equal((await getManifest({ ...reg, auth: undefined }, 'private/app', 'v1')).status, 401);
  });
});

describe('OCI image layout', () => {
  it('writes index.json with ref names and every blob under its digest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sigwatch-layout-'));
    try {
      const index = buildIndex([buildImage({ seed: 'l1' }), buildImage({ seed: 'l1', platform: { os: 'linux', architecture: 'arm64' } })]);
      const { privateKey } = generateKeyPair();
      const payload = simpleSigningPayload('registry.example/app', index.digest);
      const sig = legacySignatureManifest([{ payload, signature: signPayload(payload, privateKey) }]);
      await writeOciLayout(dir, [{ tag: 'v1', manifest: index }, { manifest: sig }]);

      assert.deepEqual(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
      const indexJson = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
      assert.equal(indexJson.mediaType, MediaTypes.ociIndex);
      assert.deepEqual(
        indexJson.manifests.map((d: { digest: string; annotations?: Record<string, string> }) => [
          d.digest,
          d.annotations?.['org.opencontainers.image.ref.name'],
        ]),
        [
          [index.digest, 'v1'],
          [sig.digest, undefined],
        ],
      );
      const files = await readdir(join(dir, 'blobs', 'sha256'));
      for (const file of files) {
        assert.equal(sha256Digest(await readFile(join(dir, 'blobs', 'sha256', file))), `sha256:${file}`);
      }
      // index + 2 images (config + layer each) + signature (config + payload)
      assert.equal(files.length, 1 + 2 * 3 + 3);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('keyless fixture', () => {
  const alice: Identity = { issuer: 'https://accounts.example.com', subject: 'alice@example.com' };
  const workflow: Identity = {
    issuer: 'https://token.actions.githubusercontent.com',
    subject: 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main',
  };
  let fixture: KeylessFixture;
  let verifier: Verifier;
  before(async () => {
    fixture = await createKeylessFixture();
    verifier = verifierFor(fixture.trustedRoot);
  });

  function verifierFor(root: TrustedRootJson): Verifier {
    return new Verifier(toTrustMaterial(TrustedRoot.fromJSON(root)));
  }

  const policyFor = (identity: Identity): VerificationPolicy => ({
    subjectAlternativeName: identity.subject,
    extensions: { issuer: identity.issuer },
  });

  it('makes message-signature bundles that @sigstore/verify accepts, with an rfc822Name SAN for emails', async () => {
    const payload = simpleSigningPayload('127.0.0.1:5000/app', sha256Digest('image'));
    const signed = await fixture.signKeyless(payload, alice);
    const signer = verifier.verify(toSignedEntity(bundleFromJSON(signed.bundle), payload), policyFor(alice));
    assert.equal(signer.identity?.subjectAlternativeName, alice.subject);
    assert.equal(signer.identity?.extensions?.issuer, alice.issuer);
    const san = SigstoreCertificate.parse(signed.certificatePem).extSubjectAltName;
    assert.equal(san?.rfc822Name, alice.subject);
    assert.equal(san?.uri, undefined);
  });

  it('uses a URI SAN for workflow identities', async () => {
    const payload = Buffer.from('workflow payload');
    const signed = await fixture.signKeyless(payload, workflow);
    verifier.verify(toSignedEntity(bundleFromJSON(signed.bundle), payload), policyFor(workflow));
    assert.equal(SigstoreCertificate.parse(signed.certificatePem).extSubjectAltName?.uri, workflow.subject);
  });

  it('rejects a wrong subject or issuer', async () => {
    const payload = Buffer.from('payload');
    const entity = toSignedEntity(bundleFromJSON((await fixture.signKeyless(payload, alice)).bundle), payload);
    assert.throws(() => verifier.verify(entity, policyFor({ ...alice, subject: 'mallory@example.com' })), PolicyError);
    assert.throws(() => verifier.verify(entity, policyFor({ ...alice, issuer: 'https://evil.example.com' })), PolicyError);
  });

  it('is not trusted by the public-good sigstore root', async () => {
    const payload = Buffer.from('payload');
    const entity = toSignedEntity(bundleFromJSON((await fixture.signKeyless(payload, alice)).bundle), payload);
    const publicGood = verifierFor(await publicGoodTrustedRoot());
    assert.throws(
      () => publicGood.verify(entity, policyFor(alice)),
      (e) => e instanceof VerificationError && e.code === 'CERTIFICATE_ERROR',
    );
  });

  it('rejects a payload other than the signed one', async () => {
    const signed = await fixture.signKeyless(Buffer.from('signed'), alice);
    assert.throws(() => verifier.verify(toSignedEntity(bundleFromJSON(signed.bundle), Buffer.from('tampered'))));
  });

  it('fills cosign legacy annotations: the SET verifies with the Rekor key and the cert signs the payload', async () => {
    const payload = simpleSigningPayload('127.0.0.1:5000/app', sha256Digest('image'));
    const signed = await fixture.signKeyless(payload, alice, { timestamp: true });
    const rekorKey = createPublicKey({ key: rawBytesOf(fixture.trustedRoot, 'tlogs'), format: 'der', type: 'spki' });
    const { body, integratedTime, logID, logIndex } = signed.rekorBundle.Payload;
    // Rekor signs the canonical JSON (sorted keys) of the payload.
    const canonical = JSON.stringify({ body, integratedTime, logID, logIndex });
    assert.ok(cryptoVerify('sha256', Buffer.from(canonical), rekorKey, Buffer.from(signed.rekorBundle.SignedEntryTimestamp, 'base64')));
    assert.equal(logID, createHash('sha256').update(rawBytesOf(fixture.trustedRoot, 'tlogs')).digest('hex'));
    assert.ok(cryptoVerify('sha256', payload, createPublicKey(signed.certificatePem), Buffer.from(signed.signature, 'base64')));
    assert.ok(signed.rfc3161Timestamp?.SignedRFC3161Timestamp);

    const sig = legacySignatureManifest([{ payload, ...signed }]);
    const annotations = sig.json.layers![0]!.annotations!;
    assert.deepEqual(Object.keys(annotations), [
      CosignAnnotations.signature,
      CosignAnnotations.bundle,
      CosignAnnotations.certificate,
      CosignAnnotations.chain,
      CosignAnnotations.rfc3161Timestamp,
    ]);
    assert.deepEqual(JSON.parse(annotations[CosignAnnotations.bundle]!), signed.rekorBundle);

    // With the TSA timestamp the bundle carries two timestamps, both verified.
    verifier.verify(toSignedEntity(bundleFromJSON(signed.bundle), payload), policyFor(alice));
    assert.equal(signed.bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps.length, 1);
  });

  it('makes DSSE bundles that verify', async () => {
    const statement = Buffer.from(
      JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [], predicateType: 'https://slsa.dev/provenance/v1', predicate: {} }),
    );
    const bundle = await fixture.signDsseKeyless('application/vnd.in-toto+json', statement, workflow);
    assert.equal(bundle.verificationMaterial.tlogEntries[0]?.kindVersion?.kind, 'dsse');
    verifier.verify(toSignedEntity(bundleFromJSON(bundle)), policyFor(workflow));
  });

  it('writes its trusted root as JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sigwatch-root-'));
    try {
      const path = join(dir, 'trusted_root.json');
      await fixture.writeTrustedRoot(path);
      const root = JSON.parse(await readFile(path, 'utf8'));
      assert.equal(root.mediaType, 'application/vnd.dev.sigstore.trustedroot+json;version=0.1');
      assert.deepEqual(root, fixture.trustedRoot);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

function rawBytesOf(root: TrustedRootJson, list: 'tlogs' | 'ctlogs'): Buffer {
  const [instance] = root[list] as { publicKey: { rawBytes: string } }[];
  return Buffer.from(instance!.publicKey.rawBytes, 'base64');
}

// The production root that @sigstore/tuf ships as its TUF seed.
async function publicGoodTrustedRoot(): Promise<TrustedRootJson> {
  const seeds = JSON.parse(await readFile(createRequire(import.meta.url).resolve('@sigstore/tuf/seeds.json'), 'utf8'));
  return JSON.parse(Buffer.from(seeds['https://tuf-repo-cdn.sigstore.dev'].targets['trusted_root.json'], 'base64').toString());
}
