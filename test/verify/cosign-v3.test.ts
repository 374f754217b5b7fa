import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import {
  buildImage,
  cosignKeyBundle,
  cosignKeyHint,
  cosignV3Referrer,
  cosignV3SignStatement,
  createKeylessFixture,
  generateKeyPair,
  keyAttestationBundle,
  keyAttestationLayer,
  keylessAttestationBundle,
  keylessAttestationLayer,
  attestationManifest,
  attestationTag,
  inTotoStatement,
  legacySignatureManifest,
  PredicateUris,
  Predicates,
  pushManifest,
  referrersIndex,
  signatureTag,
  signPayload,
  simpleSigningPayload,
  startRegistry,
  withTimestamp,
  writeOciLayout,
  writeCosignSaveLayout,
  createTufRepository,
  ed25519Sign,
  tufTrustRootYaml,
  type BuiltManifest,
  type KeyAlgorithm,
  type KeylessFixture,
  type TestRegistry,
} from '../support/index.ts';
import { GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { startHttpServer } from '../support/http-server.ts';
import { sigwatch } from '../support/cli.ts';

/**
 * Images signed the way cosign v3 signs them (`cosign sign`, new bundle
 * format by default): a v0.3 bundle holding a DSSE envelope over the
 * `https://sigstore.dev/cosign/sign/v1` statement, attached as an OCI
 * referrer. Each case runs through an OCI layout, docker-registry (which has
 * no referrers API: the `sha256-<hex>` tag-schema fallback) and the same
 * registry behind a front that answers the referrers API (no fallback tag there).
 */

const GITHUB = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1';
const work = mkdtempSync(join(tmpdir(), 'sigwatch-cosign-v3-'));
const rootFile = join(work, 'trusted_root.json');
const noCtRootFile = join(work, 'trusted_root_no_ct.json');
const REPO = 'acme/app';

let fixture: KeylessFixture;
/** A second sigstore whose TSA the root does not list (as timestamp.sigstore.dev for an older or private root). */
let foreign: KeylessFixture;
let plain: TestRegistry;
let withApi: TestRegistry;
let front: Awaited<ReturnType<typeof startHttpServer>>;

const keys = Object.fromEntries((['ecdsa-p256', 'ecdsa-p384', 'rsa', 'ed25519'] as KeyAlgorithm[]).map((a) => [a, generateKeyPair(a)])) as Record<
  KeyAlgorithm,
  ReturnType<typeof generateKeyPair>
>;
const otherKey = generateKeyPair('ecdsa-p256');

interface Stored {
  tag: string;
  image: BuiltManifest;
  referrers: BuiltManifest[];
  legacy?: BuiltManifest;
  attestations?: BuiltManifest;
}
const images: Stored[] = [];
const seed = (tag: string) => `cosign-v3-${tag}`;
const digestOf = (tag: string) => buildImage({ seed: seed(tag) }).digest;

async function add(
  tag: string,
  make: (
    digest: string,
    image: BuiltManifest,
  ) => Promise<{ bundles?: Record<string, unknown>[]; legacy?: BuiltManifest; attestations?: BuiltManifest; predicate?: string }>,
) {
  const image = buildImage({ seed: seed(tag) });
  const r = await make(image.digest, image);
  images.push({
    tag,
    image,
    referrers: (r.bundles ?? []).map((b) => cosignV3Referrer(image, b, r.predicate ? { predicateType: r.predicate } : {})),
    ...(r.legacy ? { legacy: r.legacy } : {}),
    ...(r.attestations ? { attestations: r.attestations } : {}),
  });
}

const keyBundle = (digest: string, key: KeyObject, opts: Parameters<typeof cosignKeyBundle>[2] = {}) =>
  cosignKeyBundle(cosignV3SignStatement(digest), key, opts);
const keylessBundle = (digest: string) =>
  fixture.signDsseKeyless('application/vnd.in-toto+json', cosignV3SignStatement(digest), { issuer: GITHUB, subject: WORKFLOW });
function keyLegacy(digest: string, key: KeyObject): BuiltManifest {
  const payload = simpleSigningPayload(`registry.example.com/${REPO}`, digest);
  return legacySignatureManifest([{ payload, signature: signPayload(payload, key) }]);
}
async function keylessLegacy(digest: string): Promise<BuiltManifest> {
  const payload = simpleSigningPayload(`registry.example.com/${REPO}`, digest);
  const s = await fixture.signKeyless(payload, { issuer: GITHUB, subject: WORKFLOW });
  return legacySignatureManifest([{ payload, signature: s.signature, certificatePem: s.certificatePem, chainPem: s.chainPem, rekorBundle: s.rekorBundle }]);
}

before(async () => {
  fixture = await createKeylessFixture();
  foreign = await createKeylessFixture();
  await fixture.writeTrustedRoot(rootFile);
  writeFileSync(noCtRootFile, JSON.stringify({ ...fixture.trustedRoot, ctlogs: [] }));
  const p256 = keys['ecdsa-p256'].privateKey;

  for (const alg of Object.keys(keys) as KeyAlgorithm[]) {
    // cosign v3 signs with the key's own hash: SHA-384 for P-384.
    const hash = alg === 'ecdsa-p384' ? 'sha384' : 'sha256';
    // Ed25519: pure, as sigstore-go and sigstore-js sign; cosign v3's own Ed25519ph below.
    await add(`key-${alg}`, async (d) => ({ bundles: [await keyBundle(d, keys[alg].privateKey, { hash, ed25519: 'pure' })] }));
    await add(`key-${alg}-tlog`, async (d) => ({ bundles: [await keyBundle(d, keys[alg].privateKey, { hash, rekor: fixture, ed25519: 'pure' })] }));
  }
  await add('key-ed25519ph', async (d) => ({ bundles: [await keyBundle(d, keys.ed25519.privateKey, { ed25519: 'ph' })] }));
  await add('key-other', async (d) => ({ bundles: [await keyBundle(d, otherKey.privateKey)] }));
  // The hint names the authority's key, the signature is another's: the hint must not matter.
  await add('key-lying-hint', async (d) => ({ bundles: [await keyBundle(d, otherKey.privateKey, { hint: cosignKeyHint(keys['ecdsa-p256'].privateKey) })] }));
  await add('key-another-digest', async () => ({ bundles: [await keyBundle(digestOf('elsewhere'), p256)] }));
  await add('key-tlog-foreign-rekor', async (d) => ({ bundles: [await keyBundle(d, p256, { rekor: foreign })] }));
  // cosign reads v0.3 bundles and later; an older one is not a signature to it.
  await add('key-v01-bundle', async (d) => ({
    bundles: [{ ...(await keyBundle(d, p256)), mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1' }],
  }));
  await add('key-several', async (d) => ({ bundles: [await keyBundle(d, otherKey.privateKey), await keyBundle(d, p256)] }));
  await add('key-timestamp-foreign', async (d) => ({ bundles: [await keyBundle(d, p256, { rekor: fixture, tsa: foreign })] }));
  // An attestation bundle is not a signature, even by the right key.
  await add('key-provenance-only', async (d) => ({
    bundles: [await cosignKeyBundle(inTotoStatement('x', d, PredicateUris.slsa1, Predicates.slsa1()), p256)],
    predicate: PredicateUris.slsa1,
  }));
  // Side by side: the legacy signature by the p256 key, the bundle by another key (and the reverse).
  await add('both-legacy-good', async (d) => ({ bundles: [await keyBundle(d, otherKey.privateKey)], legacy: keyLegacy(d, p256) }));
  await add('both-bundle-good', async (d) => ({ bundles: [await keyBundle(d, p256)], legacy: keyLegacy(d, otherKey.privateKey) }));
  await add('legacy-only', async (d) => ({ legacy: keyLegacy(d, p256) }));
  // `cosign sign --key --new-bundle-format=false --timestamp-server-url …`: logged, and timestamped by a TSA the root lacks.
  await add('legacy-key-tlog-foreign-tsa', async (d) => {
    const payload = simpleSigningPayload(`registry.example.com/${REPO}`, d);
    const signature = signPayload(payload, p256);
    const rekorBundle = await fixture.logKeySignature(payload, signature, keys['ecdsa-p256'].publicKeyPem);
    const token = await foreign.timestamp(Buffer.from(signature, 'base64'));
    return { legacy: legacySignatureManifest([{ payload, signature, rekorBundle, rfc3161Timestamp: { SignedRFC3161Timestamp: token.toString('base64') } }]) };
  });
  await add('bundle-only', async (d) => ({ bundles: [await keyBundle(d, p256)] }));
  await add('keyless-legacy-only', async (d) => ({ legacy: await keylessLegacy(d) }));
  await add('keyless-bundle-only', async (d) => ({ bundles: [(await keylessBundle(d)) as unknown as Record<string, unknown>] }));
  // Real cosign v3 keyless signatures on the public-good instance carry a timestamp.sigstore.dev token.
  await add('keyless-foreign-tsa', async (d) => ({ bundles: [await withTimestamp(await keylessBundle(d), foreign)] }));
  await add('keyless-own-tsa', async (d) => ({ bundles: [await withTimestamp(await keylessBundle(d), fixture)] }));
  // The same for a legacy signature: cosign's rfc3161timestamp annotation from a TSA the root lacks.
  await add('keyless-legacy-foreign-tsa', async (d) => {
    const payload = simpleSigningPayload(`registry.example.com/${REPO}`, d);
    const s = await fixture.signKeyless(payload, { issuer: GITHUB, subject: WORKFLOW });
    const token = await foreign.timestamp(Buffer.from(s.signature, 'base64'));
    return {
      legacy: legacySignatureManifest([
        {
          payload,
          signature: s.signature,
          certificatePem: s.certificatePem,
          chainPem: s.chainPem,
          rekorBundle: s.rekorBundle,
          rfc3161Timestamp: { SignedRFC3161Timestamp: token.toString('base64') },
        },
      ]),
    };
  });
  // Attestations, legacy `.att` and bundle, by the p256 key.
  const slsa = (d: string) => inTotoStatement(`registry.example.com/${REPO}`, d, PredicateUris.slsa1, Predicates.slsa1());
  await add('att-legacy-only', async (d) => ({ attestations: attestationManifest([keyAttestationLayer(slsa(d), p256)]) }));
  await add('att-bundle-only', async (d) => ({ bundles: [keyAttestationBundle(slsa(d), p256)], predicate: PredicateUris.slsa1 }));
  // Signed one way, attested the other: each kind of evidence is judged by its own kind of bundle.
  await add('sig-legacy-att-bundle', async (d) => ({
    legacy: keyLegacy(d, p256),
    bundles: [keyAttestationBundle(slsa(d), p256)],
    predicate: PredicateUris.slsa1,
  }));
  await add('att-legacy-sig-bundle', async (d) => ({
    attestations: attestationManifest([keyAttestationLayer(slsa(d), p256)]),
    bundles: [await keyBundle(d, p256)],
  }));
  await add('att-legacy-good-bundle-other', async (d) => ({
    attestations: attestationManifest([keyAttestationLayer(slsa(d), p256)]),
    bundles: [keyAttestationBundle(slsa(d), otherKey.privateKey)],
    predicate: PredicateUris.slsa1,
  }));
  // The same keyless: `cosign attest` legacy and with the new bundle format.
  const id = { issuer: GITHUB, subject: WORKFLOW };
  await add('katt-legacy-only', async (d) => ({ attestations: attestationManifest([await keylessAttestationLayer(fixture, slsa(d), id)]) }));
  await add('katt-bundle-only', async (d) => ({
    bundles: [(await keylessAttestationBundle(fixture, slsa(d), id)) as unknown as Record<string, unknown>],
    predicate: PredicateUris.slsa1,
  }));

  const layoutEntries: { tag?: string; manifest: BuiltManifest }[] = [];
  plain = await startRegistry();
  withApi = await startRegistry();
  for (const s of images) {
    layoutEntries.push({ tag: s.tag, manifest: s.image });
    await pushManifest(plain, REPO, s.tag, s.image);
    await pushManifest(withApi, REPO, s.tag, s.image);
    if (s.referrers.length) {
      // The fallback index, as cosign (go-containerregistry) writes it where the registry has no API.
      layoutEntries.push({ tag: s.image.digest.replace(':', '-'), manifest: referrersIndex(s.referrers) });
      for (const r of s.referrers) await pushManifest(plain, REPO, r.digest, r);
      await pushManifest(plain, REPO, s.image.digest.replace(':', '-'), referrersIndex(s.referrers));
      // With the API, only the referrers themselves: nothing under the fallback tag.
      for (const r of s.referrers) await pushManifest(withApi, REPO, r.digest, r);
    }
    if (s.legacy) {
      layoutEntries.push({ tag: signatureTag(s.image.digest), manifest: s.legacy });
      await pushManifest(plain, REPO, signatureTag(s.image.digest), s.legacy);
      await pushManifest(withApi, REPO, signatureTag(s.image.digest), s.legacy);
    }
    if (s.attestations) {
      layoutEntries.push({ tag: attestationTag(s.image.digest), manifest: s.attestations });
      await pushManifest(plain, REPO, attestationTag(s.image.digest), s.attestations);
      await pushManifest(withApi, REPO, attestationTag(s.image.digest), s.attestations);
    }
  }
  await writeOciLayout(join(work, 'layout'), layoutEntries);
  front = await startReferrersFront(withApi);
});

after(async () => {
  await front?.close();
  await plain?.stop();
  await withApi?.stop();
  rmSync(work, { recursive: true, force: true });
});

/**
 * docker-registry with an OCI 1.1 referrers API in front: the API answers from
 * the referrers pushed for each image; every other request goes to the registry.
 */
function startReferrersFront(registry: TestRegistry) {
  const byDigest = new Map(images.map((s) => [s.image.digest, s.referrers]));
  return startHttpServer((req, res) => {
    const url = new URL(req.url!, 'http://front');
    const m = /^\/v2\/(.+)\/referrers\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (m) {
      const manifests = (byDigest.get(m[2]!) ?? []).map((r) => ({
        mediaType: r.mediaType,
        digest: r.digest,
        size: r.bytes.length,
        artifactType: (r.json as { artifactType?: string }).artifactType,
        annotations: (r.json as { annotations?: Record<string, string> }).annotations,
      }));
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' });
      res.end(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
      return;
    }
    const headers: Record<string, string> = {};
    for (const h of ['accept', 'authorization']) if (req.headers[h]) headers[h] = String(req.headers[h]);
    fetch(`${registry.url}${req.url}`, { method: req.method, headers })
      .then(async (upstream) => {
        const out: Record<string, string> = {};
        upstream.headers.forEach((v, k) => {
          if (!['content-encoding', 'transfer-encoding', 'connection'].includes(k)) out[k] = v;
        });
        const body = Buffer.from(await upstream.arrayBuffer());
        res.writeHead(upstream.status, out).end(req.method === 'HEAD' ? undefined : body);
      })
      .catch(() => res.writeHead(502).end());
  });
}

const pem = (alg: KeyAlgorithm | 'other') => (alg === 'other' ? otherKey : keys[alg]).publicKeyPem;
const indent = (text: string, n: number) =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => `${' '.repeat(n)}${l}`)
    .join('\n');

function keyAuthority(alg: KeyAlgorithm | 'other' | (KeyAlgorithm | 'other')[], extra = ''): string {
  const data = (Array.isArray(alg) ? alg : [alg]).map(pem).join('');
  return `    - key:\n        data: |\n${indent(data, 12)}\n${extra}`;
}
const keylessAuthority = (extra = '', keyless = '') =>
  `    - keyless:\n        identities: [{issuer: "${GITHUB}", subjectRegExp: "^https://github\\\\.com/acme/app/"}]\n${keyless}${extra}`;

function policy(authority: string, prefix = ''): string {
  const file = join(work, `policy-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    `${prefix}apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: cosign-v3}\nspec:\n  images: [{glob: "**"}]\n  authorities:\n${authority}\n`,
  );
  return file;
}

type Where = 'OCI layout' | 'docker-registry (tag-schema fallback)' | 'registry with the referrers API';
const WHERES: Where[] = ['OCI layout', 'docker-registry (tag-schema fallback)', 'registry with the referrers API'];

function verifier(where: Where) {
  return (tag: string, policyFile: string, root = rootFile) => {
    if (where === 'OCI layout') {
      return sigwatch(
        'verify',
        `oci:${join(work, 'layout')}:${tag}`,
        '--policies',
        policyFile,
        '--as',
        `registry.example.com/${REPO}:${tag}`,
        '--trusted-root',
        root,
        '--format',
        'json',
      );
    }
    const host = where === 'registry with the referrers API' ? front.host : plain.host;
    return sigwatch('verify', `${host}/${REPO}:${tag}`, '--policies', policyFile, '--insecure-registry', host, '--trusted-root', root, '--format', 'json');
  };
}

async function expectAdmit(r: Awaited<ReturnType<typeof sigwatch>>) {
  assert.equal(r.code, 0, r.stdout + r.stderr);
}
async function expectDeny(r: Awaited<ReturnType<typeof sigwatch>>, reason: RegExp) {
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(
    r
      .json()
      .policies[0]!.authorities.map((a) => a.reason)
      .join('\n'),
    reason,
  );
}

const CTLOG = '      ctlog: {url: "https://rekor.sigwatch.test"}\n';

for (const where of WHERES) {
  describe(`cosign v3 key-signed bundles: ${where}`, () => {
    const verify = verifier(where);

    for (const alg of ['ecdsa-p256', 'ecdsa-p384', 'rsa', 'ed25519'] as KeyAlgorithm[]) {
      const hashAlgorithm = alg === 'ecdsa-p384' ? '        hashAlgorithm: sha384\n' : '';
      it(`admits a ${alg} bundle without a Rekor entry, and one with, when the authority names no ctlog`, async () => {
        await expectAdmit(await verify(`key-${alg}`, policy(keyAuthority(alg, hashAlgorithm))));
        await expectAdmit(await verify(`key-${alg}-tlog`, policy(keyAuthority(alg, hashAlgorithm))));
      });
      it(`with a ctlog, requires the ${alg} bundle's Rekor entry`, async () => {
        await expectAdmit(await verify(`key-${alg}-tlog`, policy(keyAuthority(alg, `${hashAlgorithm}${CTLOG}`))));
        await expectDeny(
          await verify(`key-${alg}`, policy(keyAuthority(alg, `${hashAlgorithm}${CTLOG}`))),
          /no Rekor entry in the bundle, and the authority requires the transparency log/,
        );
      });
    }

    it('denies a P-384 bundle with the default hashAlgorithm (sha256), as cosign verify --key does, naming the hash that would verify', async () => {
      await expectDeny(await verify('key-ecdsa-p384', policy(keyAuthority('ecdsa-p384'))), /it verifies with sha384 .*set key\.hashAlgorithm: sha384/);
    });

    it('denies an Ed25519ph bundle (cosign v3 sign --key), as cosign verify --key does: it verifies pure Ed25519', async () => {
      await expectDeny(await verify('key-ed25519ph', policy(keyAuthority('ed25519'))), /Ed25519ph/);
    });

    it('denies a bundle by another key, whatever its hint says; several keys and several bundles admit when any verifies', async () => {
      await expectDeny(await verify('key-other', policy(keyAuthority('ecdsa-p256'))), /envelope signature does not verify with the authority's key/);
      await expectDeny(await verify('key-lying-hint', policy(keyAuthority('ecdsa-p256'))), /does not verify with the authority's key/);
      await expectAdmit(await verify('key-lying-hint', policy(keyAuthority(['ecdsa-p256', 'other']))));
      await expectAdmit(await verify('key-several', policy(keyAuthority('ecdsa-p256'))));
    });

    it('ignores a bundle older than v0.3, as cosign does', async () => {
      await expectDeny(await verify('key-v01-bundle', policy(keyAuthority('ecdsa-p256'))), /bundle version too old/);
    });

    it('denies a bundle for another digest, an attestation bundle, and a Rekor entry from a log the root lacks', async () => {
      await expectDeny(await verify('key-another-digest', policy(keyAuthority('ecdsa-p256'))), /statement subjects do not include this image digest/);
      await expectDeny(await verify('key-provenance-only', policy(keyAuthority('ecdsa-p256'))), /is not a cosign signature/);
      await expectDeny(await verify('key-tlog-foreign-rekor', policy(keyAuthority('ecdsa-p256', CTLOG))), /TLOG/);
      await expectAdmit(await verify('key-tlog-foreign-rekor', policy(keyAuthority('ecdsa-p256'))));
    });

    it('ignores an RFC 3161 timestamp from a TSA the root lacks on a key bundle (cosign: no observer timestamps with a key)', async () => {
      await expectAdmit(await verify('key-timestamp-foreign', policy(keyAuthority('ecdsa-p256', CTLOG))));
      await expectAdmit(await verify('legacy-key-tlog-foreign-tsa', policy(keyAuthority('ecdsa-p256', CTLOG))));
    });

    it('refuses a keyless bundle under a key authority, and a key bundle under a keyless one', async () => {
      await expectDeny(await verify('keyless-bundle-only', policy(keyAuthority('ecdsa-p256'))), /signed with a certificate \(keyless\), not a key/);
      await expectDeny(await verify('bundle-only', policy(keylessAuthority())), /no certificate/);
    });
  });

  describe(`signatureFormat × authority kind: ${where}`, () => {
    const verify = verifier(where);
    const fmt = (f: string | undefined) => (f ? `      signatureFormat: ${f}\n` : '');
    // [image, format, admitted?] — unset reads both, and bundles, when present, decide alone (cosign v3).
    const table: [string, string | undefined, boolean][] = [
      ['legacy-only', undefined, true],
      ['legacy-only', 'legacy', true],
      ['legacy-only', 'bundle', false],
      ['bundle-only', undefined, true],
      ['bundle-only', 'legacy', false],
      ['bundle-only', 'bundle', true],
      ['both-legacy-good', undefined, false],
      ['both-legacy-good', 'legacy', true],
      ['both-legacy-good', 'bundle', false],
      ['both-bundle-good', undefined, true],
      ['both-bundle-good', 'legacy', false],
      ['both-bundle-good', 'bundle', true],
    ];
    for (const [tag, format, admitted] of table) {
      it(`key authority, ${tag}, signatureFormat ${format ?? 'unset'}: ${admitted ? 'admit' : 'deny'}`, async () => {
        const r = await verify(tag, policy(keyAuthority('ecdsa-p256', fmt(format))));
        assert.equal(r.code, admitted ? 0 : 1, r.stdout + r.stderr);
        if (tag === 'both-legacy-good' && format === undefined)
          assert.match(r.json().reasons.join('\n'), /legacy signatures are not used \(as cosign v3 verify/);
      });
    }
    const keylessTable: [string, string | undefined, boolean][] = [
      ['keyless-legacy-only', undefined, true],
      ['keyless-legacy-only', 'legacy', true],
      ['keyless-legacy-only', 'bundle', false],
      ['keyless-bundle-only', undefined, true],
      ['keyless-bundle-only', 'legacy', false],
      ['keyless-bundle-only', 'bundle', true],
    ];
    for (const [tag, format, admitted] of keylessTable) {
      it(`keyless authority, ${tag}, signatureFormat ${format ?? 'unset'}: ${admitted ? 'admit' : 'deny'}`, async () => {
        const r = await verify(tag, policy(keylessAuthority(fmt(format))));
        assert.equal(r.code, admitted ? 0 : 1, r.stdout + r.stderr);
      });
    }
    const attestation = (format: string | undefined) =>
      keyAuthority('ecdsa-p256', `${fmt(format)}      attestations:\n        - name: provenance\n          predicateType: https://slsa.dev/provenance/v1\n`);
    const attestationTable: [string, string | undefined, boolean][] = [
      ['att-legacy-only', undefined, true],
      ['att-legacy-only', 'legacy', true],
      ['att-legacy-only', 'bundle', false],
      ['att-bundle-only', undefined, true],
      ['att-bundle-only', 'legacy', false],
      ['att-bundle-only', 'bundle', true],
    ];
    it('a legacy signature and an attestation bundle: the signature is judged (cosign also admits, taking the attestation for a signature)', async () => {
      await expectAdmit(await verify('sig-legacy-att-bundle', policy(keyAuthority('ecdsa-p256'))));
    });
    it('a legacy attestation and a signature bundle: the attestation is judged (cosign verify-attestation would look at the signature bundle only and deny)', async () => {
      await expectAdmit(await verify('att-legacy-sig-bundle', policy(attestation(undefined))));
    });
    it('a legacy attestation and an attestation bundle: the bundle decides, as cosign v3', async () => {
      const r = await verify('att-legacy-good-bundle-other', policy(attestation(undefined)));
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.json().reasons.join('\n'), /legacy attestations are not used \(as cosign v3 verify-attestation/);
      await expectAdmit(await verify('att-legacy-good-bundle-other', policy(attestation('legacy'))));
    });
    for (const [tag, format, admitted] of attestationTable) {
      it(`key authority with attestations, ${tag}, signatureFormat ${format ?? 'unset'}: ${admitted ? 'admit' : 'deny'}`, async () => {
        const r = await verify(tag, policy(attestation(format)));
        assert.equal(r.code, admitted ? 0 : 1, r.stdout + r.stderr);
      });
      const keyless = `k${tag}`;
      it(`keyless authority with attestations, ${keyless}, signatureFormat ${format ?? 'unset'}: ${admitted ? 'admit' : 'deny'}`, async () => {
        const r = await verify(
          keyless,
          policy(keylessAuthority(`${fmt(format)}      attestations:\n        - name: provenance\n          predicateType: https://slsa.dev/provenance/v1\n`)),
        );
        assert.equal(r.code, admitted ? 0 : 1, r.stdout + r.stderr);
      });
    }
  });

  describe(`cosign v3 keyless bundles: timestamps and SCTs: ${where}`, () => {
    const verify = verifier(where);

    it('admits a keyless bundle carrying a timestamp from a TSA the root does not list (the Rekor integrated time dates the certificate)', async () => {
      await expectAdmit(await verify('keyless-foreign-tsa', policy(keylessAuthority())));
      await expectAdmit(await verify('keyless-own-tsa', policy(keylessAuthority())));
      await expectAdmit(await verify('keyless-legacy-foreign-tsa', policy(keylessAuthority())));
    });

    it('with rfc3161timestamp, counts only timestamps from the root’s TSAs', async () => {
      const repo = createTufRepository({ targets: { 'trusted_root.json': Buffer.from(JSON.stringify(fixture.trustedRoot)) } });
      const trustRoot = tufTrustRootYaml('own', { repository: { root: repo.root, mirrorFS: repo.mirrorFS() } });
      const withTsa = (tag: string) =>
        verify(tag, policy(keylessAuthority('      rfc3161timestamp: {trustRootRef: own}\n', '        trustRootRef: own\n'), trustRoot));
      await expectAdmit(await withTsa('keyless-own-tsa'));
      await expectDeny(await withTsa('keyless-foreign-tsa'), /TIMESTAMP_ERROR/);
      await expectDeny(await withTsa('keyless-bundle-only'), /no RFC 3161 timestamp in the bundle, and the authority requires one/);
    });

    it('insecureIgnoreSCT admits a certificate with an embedded SCT against a root without CT logs; without it, the SCT denies', async () => {
      await expectDeny(await verify('keyless-bundle-only', policy(keylessAuthority()), noCtRootFile), /SCT/);
      await expectAdmit(await verify('keyless-bundle-only', policy(keylessAuthority('', '        insecureIgnoreSCT: true\n')), noCtRootFile));
      await expectAdmit(await verify('keyless-legacy-only', policy(keylessAuthority('', '        insecureIgnoreSCT: true\n')), noCtRootFile));
      // Everything else is still checked: a certificate from another CA is refused.
      writeFileSync(join(work, 'foreign-root.json'), JSON.stringify({ ...foreign.trustedRoot, ctlogs: [], tlogs: fixture.trustedRoot.tlogs }));
      await expectDeny(
        await verify('keyless-bundle-only', policy(keylessAuthority('', '        insecureIgnoreSCT: true\n')), join(work, 'foreign-root.json')),
        /CERTIFICATE_ERROR/,
      );
    });
  });
}

describe('cosign save layouts (kind annotations, referrers only in blobs/)', () => {
  const at = (name: string) => join(work, `cosign-save-${name}`);
  const byDigest = (tag: string) => images.find((s) => s.tag === tag)!;
  const verify = (name: string, tag: string, authority: string) =>
    sigwatch('verify', `oci:${at(name)}@${byDigest(tag).image.digest}`, '--policies', policy(authority), '--trusted-root', rootFile, '--format', 'json');
  before(async () => {
    for (const tag of ['bundle-only', 'legacy-only', 'keyless-bundle-only', 'both-legacy-good']) {
      const s = byDigest(tag);
      await writeCosignSaveLayout(at(tag), { image: s.image, ...(s.legacy ? { sigs: s.legacy } : {}), referrers: s.referrers });
    }
  });

  it('finds the bundles cosign save left in blobs/, and the .sig image by its kind', async () => {
    await expectAdmit(await verify('bundle-only', 'bundle-only', keyAuthority('ecdsa-p256')));
    await expectAdmit(await verify('legacy-only', 'legacy-only', keyAuthority('ecdsa-p256')));
    await expectAdmit(await verify('keyless-bundle-only', 'keyless-bundle-only', keylessAuthority()));
    await expectDeny(await verify('bundle-only', 'bundle-only', keyAuthority('other')), /does not verify with the authority's key/);
    // Side by side, the bundles decide, here as from a registry.
    await expectDeny(await verify('both-legacy-good', 'both-legacy-good', keyAuthority('ecdsa-p256')), /legacy signatures are not used/);
  });
});

describe('harness: Ed25519 as cosign signs it', () => {
  it('signs pure Ed25519 exactly as Node does, and Ed25519ph as RFC 8032 §7.3 says', () => {
    const m = Buffer.from('cosign');
    assert.ok(sign(null, m, keys.ed25519.privateKey).equals(ed25519Sign(m, keys.ed25519.privateKey, 'pure')));
    const rfc = createPrivateKey({
      key: Buffer.from('302e020100300506032b657004220420833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42', 'hex'),
      format: 'der',
      type: 'pkcs8',
    });
    assert.equal(
      ed25519Sign(Buffer.from('abc'), rfc, 'ph').toString('hex'),
      '98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406',
    );
  });
});

describe('cosign v3 bundles signed with an AWS KMS key (cosign sign --key awskms:///…)', () => {
  const KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  const kms = mockClient(KMSClient);
  after(() => kms.restore());
  const der = (alg: KeyAlgorithm) => Buffer.from(keys[alg].publicKeyPem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  const kmsPolicy = (extra = '') => policy(`    - key: {kms: "awskms:///${KEY_ARN}"}\n${extra}`);
  const verify = verifier('docker-registry (tag-schema fallback)');

  it('verifies the bundle with the key GetPublicKey returns, asking KMS for exactly that key once', async () => {
    kms.reset();
    kms.on(GetPublicKeyCommand).resolves({ KeyId: KEY_ARN, PublicKey: der('ecdsa-p256'), KeySpec: 'ECC_NIST_P256' });
    await expectAdmit(await verify('key-ecdsa-p256', kmsPolicy()));
    const calls = kms.commandCalls(GetPublicKeyCommand);
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.args[0].input, { KeyId: KEY_ARN });
  });

  it('with a ctlog requires the Rekor entry; another KMS key denies', async () => {
    kms.reset();
    kms.on(GetPublicKeyCommand).resolves({ KeyId: KEY_ARN, PublicKey: der('ecdsa-p256'), KeySpec: 'ECC_NIST_P256' });
    await expectAdmit(await verify('key-ecdsa-p256-tlog', kmsPolicy(CTLOG)));
    await expectDeny(await verify('key-ecdsa-p256', kmsPolicy(CTLOG)), /no Rekor entry in the bundle/);
    kms.reset();
    kms.on(GetPublicKeyCommand).resolves({ KeyId: KEY_ARN, PublicKey: der('rsa'), KeySpec: 'RSA_2048' });
    await expectDeny(await verify('key-ecdsa-p256', kmsPolicy()), /does not verify with the authority's key/);
    await expectAdmit(await verify('key-rsa', kmsPolicy()));
    assert.deepEqual(
      kms.commandCalls(GetPublicKeyCommand).map((c) => c.args[0].input),
      kms.commandCalls(GetPublicKeyCommand).map(() => ({ KeyId: KEY_ARN })),
    );
  });
});

describe('cosign v3 bundles checked with a key.secretRef from the team secrets', () => {
  const secrets = mockClient(SecretsManagerClient);
  after(() => secrets.restore());
  const verify = (tag: string) =>
    sigwatch(
      'verify',
      `oci:${join(work, 'layout')}:${tag}`,
      '--policies',
      policy('    - key:\n        secretRef: {name: release-key}\n'),
      '--secrets-prefix',
      'sigwatch/acme',
      '--format',
      'json',
    );

  it("verifies the bundle with the secret's key, reading exactly that secret", async () => {
    secrets.reset();
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ 'cosign.pub': Buffer.from(keys.rsa.publicKeyPem).toString('base64') }) });
    await expectAdmit(await verify('key-rsa'));
    await expectDeny(await verify('key-ecdsa-p256'), /does not verify with the authority's key/);
    assert.deepEqual(
      secrets.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input),
      secrets.commandCalls(GetSecretValueCommand).map(() => ({ SecretId: 'sigwatch/acme/release-key' })),
    );
    assert.ok(secrets.commandCalls(GetSecretValueCommand).length >= 1);
  });
});
