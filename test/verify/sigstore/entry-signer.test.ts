import assert from 'node:assert/strict';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { before, describe, it } from 'node:test';
import type { Bundle } from '@sigstore/bundle';
import { TransparencyLogEntry } from '@sigstore/protobuf-specs';
import type { TrustMaterial } from '@sigstore/verify';
import { trustMaterialFromJson } from '../../../src/trust/trusted-root.ts';
import { parsePublicKeys } from '../../../src/trust/keys.ts';
import { VerificationError } from '../../../src/verify/errors.ts';
import { verifyImageBundle, verifyKeyImageBundle } from '../../../src/verify/evidence/bundle/verify.ts';
import { verifyAttestationBundle } from '../../../src/verify/evidence/attestation/verify.ts';
import { assertRekorEntryNamesSigner } from '../../../src/verify/sigstore/entry-signer.ts';
import {
  buildImage,
  cosignKeyBundle,
  cosignV3SignStatement,
  createKeylessFixture,
  generateKeyPair,
  inTotoStatement,
  PredicateUris,
  Predicates,
  withTimestamp,
  type KeylessFixture,
} from '../../support/index.ts';

/**
 * sigstore-go's VerifyTlogEntry (pkg/verify/tlog.go): a Rekor v1 entry of a
 * sigstore bundle must name the bundle's own certificate or key
 * ("transparency log certificate does not match"). @sigstore/verify checks
 * the entry's signature and digest but not its key, so the trusted log's
 * genuine entry for these signature bytes and this payload, under another
 * certificate or key, passed before this check.
 */

const IN_TOTO = 'application/vnd.in-toto+json';
const identity = {
  issuer: 'https://token.actions.githubusercontent.com',
  subject: 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main',
};
const image = buildImage({ seed: 'entry-signer' });
const keyless = { requireTlog: true, requireSct: true };
let fixture: KeylessFixture;
let trust: TrustMaterial;

before(async () => {
  fixture = await createKeylessFixture();
  trust = trustMaterialFromJson(fixture.trustedRoot, 'the test trusted root');
});

interface BundleJson {
  verificationMaterial: { certificate?: { rawBytes: string }; tlogEntries: unknown[] };
  dsseEnvelope: { payload: string; payloadType: string; signatures: { sig: string }[] };
}

/** The bundle with its Rekor entry replaced by the trusted log's entry for the same envelope signature and payload, naming `verifierPem`. */
async function withEntryNaming(bundle: unknown, verifierPem: string): Promise<Record<string, unknown>> {
  const b = structuredClone(bundle) as BundleJson;
  const env = b.dsseEnvelope;
  const entry = await fixture.logDsse(JSON.stringify(env), Buffer.from(env.payload, 'base64'), Buffer.from(env.signatures[0]!.sig, 'base64'), verifierPem);
  b.verificationMaterial.tlogEntries = [TransparencyLogEntry.toJSON(entry)];
  return b as unknown as Record<string, unknown>;
}

const certificatePem = (bundle: unknown) =>
  new X509Certificate(Buffer.from((bundle as BundleJson).verificationMaterial.certificate!.rawBytes, 'base64')).toString();

function refusedAsOtherSigner(fn: () => unknown, what: 'certificate' | 'key'): void {
  assert.throws(
    fn,
    (err: unknown) =>
      err instanceof VerificationError &&
      err.code === 'TLOG' &&
      err.message === `transparency log certificate does not match: the Rekor entry names another ${what} than the bundle's`,
  );
}

function keyPair() {
  const key = generateKeyPair();
  const [publicKey] = parsePublicKeys(key.publicKeyPem, 'the test key');
  return { ...key, publicKey: publicKey! };
}

describe("a sigstore bundle's Rekor entry names its signer (sigstore-go VerifyTlogEntry)", () => {
  it('keyless image bundle: the log entry for these signature bytes under another certificate is refused; its own entry verifies', async () => {
    const statement = cosignV3SignStatement(image.digest);
    const mine = await fixture.signDsseKeyless(IN_TOTO, statement, identity);
    const theirs = await fixture.signDsseKeyless(IN_TOTO, statement, identity);
    const borrowed = await withEntryNaming(mine, certificatePem(theirs));
    refusedAsOtherSigner(() => verifyImageBundle(borrowed, image.digest, trust, keyless), 'certificate');
    assert.equal(verifyImageBundle(mine, image.digest, trust, keyless).sans[0], identity.subject);
  });

  it('keyless image bundle with a required RFC 3161 timestamp: the log entry is not read, so its certificate is not compared', async () => {
    const statement = cosignV3SignStatement(image.digest);
    const mine = await fixture.signDsseKeyless(IN_TOTO, statement, identity);
    const theirs = await fixture.signDsseKeyless(IN_TOTO, statement, identity);
    const borrowed = await withTimestamp(await withEntryNaming(mine, certificatePem(theirs)), fixture);
    const req = { requireTlog: false, requireSct: true, requireTimestamp: true };
    assert.equal(verifyImageBundle(borrowed, image.digest, trust, req).sans[0], identity.subject);
    // Where the log dates the certificate, the same entry is refused.
    refusedAsOtherSigner(() => verifyImageBundle(borrowed, image.digest, trust, keyless), 'certificate');
  });

  it('key image bundle: an entry naming another key is refused; its own entry verifies', async () => {
    const key = keyPair();
    const statement = cosignV3SignStatement(image.digest);
    const bundle = await cosignKeyBundle(statement, key.privateKey, { rekor: fixture });
    const borrowed = await withEntryNaming(bundle, generateKeyPair().publicKeyPem);
    refusedAsOtherSigner(() => verifyKeyImageBundle(borrowed, image.digest, [key.publicKey], 'sha256', trust), 'key');
    assert.equal(verifyKeyImageBundle(bundle, image.digest, [key.publicKey], 'sha256', trust), key.publicKey);
    // Without a ctlog the log is not consulted, so neither is its entry's key.
    assert.equal(verifyKeyImageBundle(borrowed, image.digest, [key.publicKey], 'sha256'), key.publicKey);
  });

  it("key image bundle: data before and after the entry's PEM block is ignored, as Go's pem.Decode does (cosign's legacy path refuses it)", async () => {
    const key = keyPair();
    const bundle = await cosignKeyBundle(cosignV3SignStatement(image.digest), key.privateKey);
    const padded = await withEntryNaming(bundle, `comment\n${key.publicKeyPem}${generateKeyPair().publicKeyPem}`);
    assert.equal(verifyKeyImageBundle(padded, image.digest, [key.publicKey], 'sha256', trust), key.publicKey);
    // The first block is the one read: another key first is another key.
    const otherFirst = await withEntryNaming(bundle, `${generateKeyPair().publicKeyPem}${key.publicKeyPem}`);
    refusedAsOtherSigner(() => verifyKeyImageBundle(otherFirst, image.digest, [key.publicKey], 'sha256', trust), 'key');
  });

  it('keyless attestation bundle: an entry under another certificate is refused; its own entry verifies', async () => {
    const statement = inTotoStatement('registry.example.com/acme/app', image.digest, PredicateUris.slsa1, Predicates.slsa1());
    const mine = await fixture.signDsseKeyless(IN_TOTO, statement, identity);
    const theirs = await fixture.signDsseKeyless(IN_TOTO, statement, identity);
    const borrowed = await withEntryNaming(mine, certificatePem(theirs));
    refusedAsOtherSigner(() => verifyAttestationBundle(borrowed, { trust, req: keyless }), 'certificate');
    const verified = verifyAttestationBundle(mine, { trust, req: keyless });
    assert.ok('identity' in verified.signer && verified.signer.identity.sans[0] === identity.subject);
  });

  it('key attestation bundle: an entry naming another key is refused; its own entry verifies', async () => {
    const key = keyPair();
    const statement = inTotoStatement('registry.example.com/acme/app', image.digest, PredicateUris.slsa1, Predicates.slsa1());
    const bundle = await cosignKeyBundle(statement, key.privateKey, { rekor: fixture });
    const borrowed = await withEntryNaming(bundle, generateKeyPair().publicKeyPem);
    refusedAsOtherSigner(() => verifyAttestationBundle(borrowed, { keys: [key.publicKey], logTrust: trust }), 'key');
    assert.deepEqual(verifyAttestationBundle(bundle, { keys: [key.publicKey], logTrust: trust }).signer, { key: key.publicKey });
  });
});

/** A bundle as far as the comparison reads it: the signer and entries with these bodies. */
function bundleWith(signer: { certificate: Buffer } | { key: true }, ...bodies: object[]): Bundle {
  const content =
    'certificate' in signer ? { $case: 'certificate', certificate: { rawBytes: signer.certificate } } : { $case: 'publicKey', publicKey: { hint: '' } };
  return { verificationMaterial: { content, tlogEntries: bodies.map((b) => ({ canonicalizedBody: Buffer.from(JSON.stringify(b)) })) } } as unknown as Bundle;
}

/** A Rekor v2 hashedrekord 0.0.2 body (protojson) whose verifier is `verifier`. */
function hashedRekordV2(verifier: { x509Certificate: Buffer } | { publicKey: Buffer }): object {
  const [kind, raw] = 'x509Certificate' in verifier ? ['x509Certificate', verifier.x509Certificate] : ['publicKey', verifier.publicKey];
  return {
    apiVersion: '0.0.2',
    kind: 'hashedrekord',
    spec: {
      hashedRekordV002: {
        data: { algorithm: 'SHA2_256', digest: Buffer.alloc(32).toString('base64') },
        signature: { content: 'AAAA', verifier: { [kind]: { rawBytes: raw.toString('base64') }, keyDetails: 'PKIX_ECDSA_P256_SHA_256' } },
      },
    },
  };
}

/** A Rekor v1 hashedrekord 0.0.1 body naming `pem`. */
const hashedRekordV1 = (pem: string): object => ({
  apiVersion: '0.0.1',
  kind: 'hashedrekord',
  spec: { data: { hash: { algorithm: 'sha256', value: '00' } }, signature: { content: 'AAAA', publicKey: { content: Buffer.from(pem).toString('base64') } } },
});

describe("the entry's signer, by whose rules (cosign's for legacy signatures, sigstore-go's for bundles)", () => {
  const der = (pem: string) => new X509Certificate(pem).raw;
  const spki = (pem: string) => createPublicKey(pem).export({ type: 'spki', format: 'der' });

  it("Rekor v2 hashedrekord: the verifier must be the bundle's certificate, or its key, as sigstore-go rebuilds the entry from them", async () => {
    const mine = (await fixture.signKeyless(Buffer.from('a'), identity)).certificatePem;
    const theirs = (await fixture.signKeyless(Buffer.from('a'), identity)).certificatePem;
    const key = keyPair();
    const cert = { certificate: der(mine) };
    assertRekorEntryNamesSigner(bundleWith(cert, hashedRekordV2({ x509Certificate: der(mine) })), undefined, 'sigstore-go');
    refusedAsOtherSigner(
      () => assertRekorEntryNamesSigner(bundleWith(cert, hashedRekordV2({ x509Certificate: der(theirs) })), undefined, 'sigstore-go'),
      'certificate',
    );
    // The certificate's bytes as a key verifier are not the entry sigstore-go rebuilds.
    refusedAsOtherSigner(
      () => assertRekorEntryNamesSigner(bundleWith(cert, hashedRekordV2({ publicKey: der(mine) })), undefined, 'sigstore-go'),
      'certificate',
    );
    assertRekorEntryNamesSigner(bundleWith({ key: true }, hashedRekordV2({ publicKey: spki(key.publicKeyPem) })), key.publicKey.key, 'sigstore-go');
    refusedAsOtherSigner(
      () =>
        assertRekorEntryNamesSigner(
          bundleWith({ key: true }, hashedRekordV2({ publicKey: spki(generateKeyPair().publicKeyPem) })),
          key.publicKey.key,
          'sigstore-go',
        ),
      'key',
    );
  });

  it('a Rekor v2 dsse entry is refused under sigstore-go rules (Rekor v2 logs DSSE as hashedrekord)', () => {
    const key = keyPair();
    const body = {
      apiVersion: '0.0.2',
      kind: 'dsse',
      spec: { dsseV002: { signatures: [{ content: 'AAAA', verifier: { publicKey: { rawBytes: 'AAAA' } } }] } },
    };
    assert.throws(
      () => assertRekorEntryNamesSigner(bundleWith({ key: true }, body), key.publicKey.key, 'sigstore-go'),
      (err: unknown) => err instanceof VerificationError && err.code === 'TLOG' && /Rekor v2 dsse entry/.test(err.message),
    );
  });

  it('PEM: sigstore-go reads the first block and ignores what surrounds it; cosign refuses data after the block', () => {
    const key = keyPair();
    const trailing = hashedRekordV1(`${key.publicKeyPem}trailing\n`);
    assertRekorEntryNamesSigner(bundleWith({ key: true }, trailing), key.publicKey.key, 'sigstore-go');
    assert.throws(
      () => assertRekorEntryNamesSigner(bundleWith({ key: true }, trailing), key.publicKey.key, 'cosign'),
      (err: unknown) => err instanceof VerificationError && err.code === 'TLOG' && err.message === "the Rekor entry names another key than the signature's",
    );
    // A block Go's pem.Decode cannot decode (bad base64) is passed over for the next one.
    const broken = `-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n${key.publicKeyPem}`;
    assertRekorEntryNamesSigner(bundleWith({ key: true }, hashedRekordV1(broken)), key.publicKey.key, 'sigstore-go');
    // BEGIN must start a line.
    refusedAsOtherSigner(
      () => assertRekorEntryNamesSigner(bundleWith({ key: true }, hashedRekordV1(`x${key.publicKeyPem}`)), key.publicKey.key, 'sigstore-go'),
      'key',
    );
  });

  it('kinds sigstore-go does not read are refused under its rules, though cosign reads them', () => {
    const key = keyPair();
    const rekord = { ...hashedRekordV1(key.publicKeyPem), kind: 'rekord' };
    assertRekorEntryNamesSigner(bundleWith({ key: true }, rekord), key.publicKey.key, 'cosign');
    assert.throws(
      () => assertRekorEntryNamesSigner(bundleWith({ key: true }, rekord), key.publicKey.key, 'sigstore-go'),
      (err: unknown) =>
        err instanceof VerificationError && err.code === 'TLOG' && err.message === 'Rekor entry of kind rekord 0.0.1 is not one sigstore-go reads',
    );
  });
});
