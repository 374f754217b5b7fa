import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { before, describe, it } from 'node:test';
import type { TrustMaterial } from '@sigstore/verify';
import { trustMaterialFromJson } from '../../../src/trust/trusted-root.ts';
import { verifyKeylessSignature, type KeylessRequirements } from '../../../src/verify/evidence/legacy-signature/verify-keyless.ts';
import { verifyImageBundle } from '../../../src/verify/evidence/bundle/verify.ts';
import { VerificationError } from '../../../src/verify/errors.ts';
import { BoundedCache } from '../../../src/verify/sigstore/bounded-cache.ts';
import type { CosignSignature } from '../../../src/verify/evidence/legacy-signature/types.ts';
import {
  cosignSignStatement,
  createKeylessFixture,
  simpleSigningPayload,
  type KeylessFixture,
  type KeylessSignature,
  type KeylessSigner,
} from '../../support/index.ts';

/**
 * The process caches a certificate's parsed form and its verified chain and
 * SCTs. A cached certificate must not let anything else about a signature
 * pass: each case verifies a good signature first (so the certificate is
 * cached), then something that must still fail with the same certificate.
 */

const identity = {
  issuer: 'https://token.actions.githubusercontent.com',
  subject: 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main',
};
const STRICT: KeylessRequirements = { requireTlog: true, requireSct: true };
const payloadFor = (n: number) => simpleSigningPayload('registry.example.com/acme/app', `sha256:${n.toString(16).padStart(64, '0')}`);

function asSignature(payload: Buffer, s: KeylessSignature): CosignSignature {
  return {
    digest: 'sha256:layer',
    payload,
    signature: Buffer.from(s.signature, 'base64'),
    certificatePem: s.certificatePem,
    chainPem: s.chainPem,
    rekorBundle: s.rekorBundle,
    source: 'test',
  };
}

function failsWith(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => err instanceof VerificationError && err.code === code, `expected a VerificationError ${code}`);
}

let fixture: KeylessFixture;
let other: KeylessFixture;
let rootJson: Record<string, unknown>;

before(async () => {
  fixture = await createKeylessFixture();
  other = await createKeylessFixture();
  rootJson = fixture.trustedRoot;
});

/** A fresh trust material (its own cache) and a signer whose first signature verified against it, so its certificate is cached. */
async function cached(): Promise<{ trust: TrustMaterial; signer: KeylessSigner; good: CosignSignature }> {
  const trust = trustMaterialFromJson(rootJson, 'fixture');
  const signer = await fixture.signer(identity);
  const good = asSignature(payloadFor(1), await signer.sign(payloadFor(1)));
  assert.deepEqual(verifyKeylessSignature(good, trust, STRICT), { issuer: identity.issuer, sans: [identity.subject] });
  return { trust, signer, good };
}

describe('keyless verification with the certificate cache', () => {
  it('another signature by the same certificate verifies from the cache, and names the same identity', async () => {
    const { trust, signer } = await cached();
    const second = asSignature(payloadFor(2), await signer.sign(payloadFor(2)));
    assert.deepEqual(verifyKeylessSignature(second, trust, STRICT), { issuer: identity.issuer, sans: [identity.subject] });
  });

  it('a tampered signature still fails', async () => {
    const { trust, good } = await cached();
    const signature = Buffer.from(good.signature);
    signature[signature.length - 1]! ^= 1;
    assert.throws(() => verifyKeylessSignature({ ...good, signature }, trust, STRICT), VerificationError);
  });

  it('a signature over another payload, with the Rekor entry of the good one, still fails', async () => {
    const { trust, good } = await cached();
    failsWith(() => verifyKeylessSignature({ ...good, payload: payloadFor(3) }, trust, STRICT), 'TLOG');
  });

  it('a signature whose payload was tampered after signing still fails', async () => {
    const { trust, signer } = await cached();
    const s = await signer.sign(payloadFor(4));
    // The Rekor entry records the real payload's digest: the body check refuses another.
    failsWith(() => verifyKeylessSignature(asSignature(Buffer.concat([payloadFor(4), Buffer.from(' ')]), s), trust, STRICT), 'TLOG');
  });

  it('the good signature with another Rekor entry (of the same certificate) still fails', async () => {
    const { trust, signer, good } = await cached();
    const otherEntry = (await signer.sign(payloadFor(5))).rekorBundle;
    failsWith(() => verifyKeylessSignature({ ...good, rekorBundle: otherEntry }, trust, STRICT), 'TLOG');
    // And a forged signed entry timestamp over the good entry.
    const forged = { ...good.rekorBundle!, SignedEntryTimestamp: Buffer.alloc(70, 1).toString('base64') };
    failsWith(() => verifyKeylessSignature({ ...good, rekorBundle: forged }, trust, STRICT), 'TLOG');
  });

  it('a signature logged after the certificate expired, or before it was valid, still fails; one logged inside its validity passes', async () => {
    const { trust, signer } = await cached();
    const cert = new X509Certificate(signer.certificatePem);
    const notBefore = new Date(cert.validFrom).getTime();
    const notAfter = new Date(cert.validTo).getTime();
    const loggedAt = async (ms: number, n: number) => asSignature(payloadFor(n), await signer.sign(payloadFor(n), { logAt: new Date(ms) }));
    const inside = await loggedAt(notBefore + 5 * 60_000, 6);
    const late = await loggedAt(notAfter + 60 * 60_000, 7);
    const early = await loggedAt(notBefore - 30_000, 8);
    // Inside the interval the cached check covers: answered from the cache.
    verifyKeylessSignature(inside, trust, STRICT);
    failsWith(() => verifyKeylessSignature(late, trust, STRICT), 'UNTRUSTED_CHAIN');
    failsWith(() => verifyKeylessSignature(early, trust, STRICT), 'UNTRUSTED_CHAIN');
    // A failure is never kept as a success, nor does it evict the good result.
    failsWith(() => verifyKeylessSignature(late, trust, STRICT), 'UNTRUSTED_CHAIN');
    verifyKeylessSignature(inside, trust, STRICT);
  });

  it('a certificate altered after issuance (its CA signature no longer verifies) fails, though the original is cached', async () => {
    const { trust, good } = await cached();
    const der = new X509Certificate(good.certificatePem!).raw;
    const resigned = Buffer.from(der);
    resigned[resigned.length - 1]! ^= 1; // the last byte of the CA's ECDSA signature
    const pem = (bytes: Buffer) => `-----BEGIN CERTIFICATE-----\n${bytes.toString('base64')}\n-----END CERTIFICATE-----\n`;
    failsWith(() => verifyKeylessSignature({ ...good, certificatePem: pem(resigned) }, trust, STRICT), 'UNTRUSTED_CHAIN');
    // The same for its content: the SAN's "acme" made "Acme", the CA's signature kept.
    const altered = Buffer.from(der);
    altered[der.indexOf('github.com/acme') + 'github.com/'.length]! ^= 0x20;
    failsWith(() => verifyKeylessSignature({ ...good, certificatePem: pem(altered) }, trust, STRICT), 'UNTRUSTED_CHAIN');
  });

  it('a trust root without the certificate authority refuses the certificate another root has cached', async () => {
    const { signer, good } = await cached();
    // The same logs (so only the chain can fail), another CA.
    const foreignCa = trustMaterialFromJson({ ...rootJson, certificateAuthorities: other.trustedRoot.certificateAuthorities }, 'foreign CA');
    failsWith(() => verifyKeylessSignature(good, foreignCa, STRICT), 'UNTRUSTED_CHAIN');
    const another = asSignature(payloadFor(9), await signer.sign(payloadFor(9)));
    failsWith(() => verifyKeylessSignature(another, foreignCa, STRICT), 'UNTRUSTED_CHAIN');
  });

  it("a cached result is not reused across trust roots holding the same CA: each root's own validity and CT logs decide", async () => {
    const { good } = await cached();
    const integrated = new Date(Number((good.rekorBundle as KeylessSignature['rekorBundle']).Payload.integratedTime) * 1000);
    const authorities = rootJson.certificateAuthorities as Record<string, unknown>[];
    // The same CA certificate, trusted only until before this signature was logged.
    const expiredCa = trustMaterialFromJson(
      {
        ...rootJson,
        certificateAuthorities: authorities.map((ca) => ({
          ...ca,
          validFor: { start: new Date(0).toISOString(), end: new Date(integrated.getTime() - 1000).toISOString() },
        })),
      },
      'expired CA',
    );
    failsWith(() => verifyKeylessSignature(good, expiredCa, STRICT), 'UNTRUSTED_CHAIN');
    // The same CA and Rekor, no CT log: the SCTs verified against the first root do not count here.
    const noCtLog = trustMaterialFromJson({ ...rootJson, ctlogs: [] }, 'no CT log');
    failsWith(() => verifyKeylessSignature(good, noCtLog, STRICT), 'UNTRUSTED_CHAIN');
    // ...unless the authority ignores SCTs, as with insecureIgnoreSCT.
    verifyKeylessSignature(good, noCtLog, { requireTlog: true, requireSct: false });
  });

  it('a root naming the same CT log with another key refuses the SCT another root has verified', async () => {
    const { good } = await cached();
    const ctlogs = rootJson.ctlogs as { publicKey: Record<string, unknown> }[];
    const otherKey = (other.trustedRoot.ctlogs as { publicKey: { rawBytes: string } }[])[0]!.publicKey.rawBytes;
    const wrongKey = trustMaterialFromJson(
      { ...rootJson, ctlogs: ctlogs.map((log) => ({ ...log, publicKey: { ...log.publicKey, rawBytes: otherKey } })) },
      'wrong CT key',
    );
    failsWith(() => verifyKeylessSignature(good, wrongKey, STRICT), 'UNTRUSTED_CHAIN');
  });

  it('a chain cached without SCTs (insecureIgnoreSCT) is still checked for SCTs when they are required', async () => {
    const trust = trustMaterialFromJson({ ...rootJson, ctlogs: [] }, 'no CT log');
    const signer = await fixture.signer(identity);
    const s = asSignature(payloadFor(10), await signer.sign(payloadFor(10)));
    verifyKeylessSignature(s, trust, { requireTlog: true, requireSct: false });
    failsWith(() => verifyKeylessSignature(s, trust, STRICT), 'UNTRUSTED_CHAIN');
  });

  it('a DSSE bundle of a cached certificate with a tampered envelope still fails', async () => {
    const trust = trustMaterialFromJson(rootJson, 'fixture');
    const digest = `sha256:${'c'.repeat(64)}`;
    const statement = cosignSignStatement('registry.example.com/acme/app', digest);
    const bundle = await fixture.signDsseKeyless('application/vnd.in-toto+json', statement, identity);
    verifyImageBundle(bundle, digest, trust, STRICT);
    const envelope = (bundle as { dsseEnvelope: { payload: string } }).dsseEnvelope;
    const tampered = {
      ...bundle,
      dsseEnvelope: { ...envelope, payload: Buffer.from(statement.toString('utf8').replace('"_type"', '"_type" ')).toString('base64') },
    };
    assert.throws(() => verifyImageBundle(tampered, digest, trust, STRICT), VerificationError);
  });
});

describe('BoundedCache', () => {
  it('keeps at most its capacity, forgetting the least recently used', () => {
    const cache = new BoundedCache<string, number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    assert.equal(cache.get('a'), 1); // a is now the most recent
    cache.set('c', 3);
    assert.equal(cache.size, 2);
    assert.equal(cache.get('b'), undefined);
    assert.equal(cache.get('a'), 1);
    assert.equal(cache.get('c'), 3);
    for (let i = 0; i < 1000; i++) cache.set(`k${i}`, i);
    assert.equal(cache.size, 2);
  });
});
