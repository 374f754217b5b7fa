import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { TrustMaterial } from '@sigstore/verify';
import { trustMaterialFromJson } from '../../../../src/trust/trusted-root.ts';
import { parsePublicKeys } from '../../../../src/trust/keys.ts';
import { VerificationError } from '../../../../src/verify/errors.ts';
import { verifyKeylessSignature } from '../../../../src/verify/evidence/legacy-signature/verify-keyless.ts';
import { verifyKeySignatureInLog } from '../../../../src/verify/evidence/legacy-signature/verify-key.ts';
import type { CosignSignature } from '../../../../src/verify/evidence/legacy-signature/types.ts';
import {
  createKeylessFixture,
  generateKeyPair,
  signPayload,
  simpleSigningPayload,
  type KeylessFixture,
  type KeylessSignature,
} from '../../../support/index.ts';
import type { CosignRekorBundle } from '../../../support/cosign.ts';

/**
 * cosign's comparePublicKey (pkg/cosign/verify.go, VerifyBundle): the Rekor
 * entry of a legacy signature must name the signature's own certificate or
 * key. @sigstore/verify checks the entry's signature and digest but not its
 * key, so an entry the trusted log really holds, for these signature bytes
 * under another certificate, passed before this check.
 */

const identity = {
  issuer: 'https://token.actions.githubusercontent.com',
  subject: 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main',
};
const payload = simpleSigningPayload('registry.example.com/acme/app', `sha256:${'a'.repeat(64)}`);
let fixture: KeylessFixture;
let trust: TrustMaterial;

before(async () => {
  fixture = await createKeylessFixture();
  trust = trustMaterialFromJson(fixture.trustedRoot, 'the test trusted root');
});

function keyless(s: KeylessSignature, rekorBundle: CosignRekorBundle = s.rekorBundle): CosignSignature {
  return {
    digest: 'sha256:layer',
    payload,
    signature: Buffer.from(s.signature, 'base64'),
    certificatePem: s.certificatePem,
    chainPem: s.chainPem,
    rekorBundle,
    source: 'test',
  };
}

function refusedAsOtherSigner(fn: () => unknown, what: 'certificate' | 'key'): void {
  assert.throws(
    fn,
    (err: unknown) => err instanceof VerificationError && err.code === 'TLOG' && err.message === `the Rekor entry names another ${what} than the signature's`,
  );
}

describe("a legacy signature's Rekor entry names its signer (cosign comparePublicKey)", () => {
  it('keyless: an entry for the same signature bytes under another certificate is refused; its own entry verifies', async () => {
    const mine = await fixture.signKeyless(payload, identity);
    const theirs = await fixture.signKeyless(payload, identity);
    // Genuinely in the trusted log: these signature bytes and this payload's digest, under the other certificate.
    const borrowed = await fixture.logKeySignature(payload, mine.signature, theirs.certificatePem);
    refusedAsOtherSigner(() => verifyKeylessSignature(keyless(mine, borrowed), trust, { requireTlog: true, requireSct: true }), 'certificate');
    assert.equal(verifyKeylessSignature(keyless(mine), trust, { requireTlog: true, requireSct: true }).sans[0], identity.subject);
  });

  it('keyless with a required timestamp: the entry is not read (dropped before verification), so its certificate is not compared', async () => {
    const mine = await fixture.signKeyless(payload, identity, { timestamp: true });
    const theirs = await fixture.signKeyless(payload, identity);
    const borrowed = await fixture.logKeySignature(payload, mine.signature, theirs.certificatePem);
    const withTimestamp = { ...keyless(mine, borrowed), rfc3161Timestamp: mine.rfc3161Timestamp };
    const req = { requireTlog: false, requireSct: true, requireTimestamp: true };
    assert.equal(verifyKeylessSignature(withTimestamp, trust, req).sans[0], identity.subject);
    // Where the log dates the certificate, the same entry is refused.
    refusedAsOtherSigner(() => verifyKeylessSignature(withTimestamp, trust, { requireTlog: true, requireSct: true }), 'certificate');
  });

  it('key: an entry naming another key is refused; one naming this key verifies, whatever its PEM line endings', async () => {
    const key = generateKeyPair();
    const other = generateKeyPair();
    const [publicKey] = parsePublicKeys(key.publicKeyPem, 'the test key');
    const signature = signPayload(payload, key.privateKey);
    const sig = (rekorBundle: CosignRekorBundle): CosignSignature => ({
      digest: 'sha256:layer',
      payload,
      signature: Buffer.from(signature, 'base64'),
      rekorBundle,
      source: 'test',
    });
    const naming = (pem: string) => fixture.logKeySignature(payload, signature, pem);
    const otherEntry = await naming(other.publicKeyPem);
    refusedAsOtherSigner(() => verifyKeySignatureInLog(sig(otherEntry), publicKey!, 'sha256', trust), 'key');
    verifyKeySignatureInLog(sig(await naming(key.publicKeyPem)), publicKey!, 'sha256', trust);
    // cosign compares the PEM blocks' bytes, so a missing final newline is the same key.
    verifyKeySignatureInLog(sig(await naming(key.publicKeyPem.trimEnd())), publicKey!, 'sha256', trust);
  });

  it('key: anything after the PEM block in the entry is refused, as cosign refuses it ("unexpected PEM block")', async () => {
    const key = generateKeyPair();
    const [publicKey] = parsePublicKeys(key.publicKeyPem, 'the test key');
    const signature = signPayload(payload, key.privateKey);
    const entry = await fixture.logKeySignature(payload, signature, `${key.publicKeyPem}${generateKeyPair().publicKeyPem}`);
    refusedAsOtherSigner(
      () =>
        verifyKeySignatureInLog(
          { digest: 'sha256:layer', payload, signature: Buffer.from(signature, 'base64'), rekorBundle: entry, source: 'test' },
          publicKey!,
          'sha256',
          trust,
        ),
      'key',
    );
  });
});
