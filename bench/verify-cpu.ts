/**
 * CPU cost of verifying one signature once trust material is loaded, for key
 * and keyless (Fulcio chain + SCT + Rekor SET + body) cosign signatures, next
 * to the floor: a bare `crypto.verify` of the same signature.
 * Target (issue 6): keyless ≤ 10 ms CPU per signature.
 */
import { createPublicKey, verify } from 'node:crypto';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial } from '@sigstore/verify';
import { certificateIdentity } from '../src/verify/sigstore/certificate-identity.ts';
import { verifyKeylessSignature } from '../src/verify/evidence/legacy-signature/verify-keyless.ts';
import { findSigningKey } from '../src/verify/evidence/legacy-signature/verify-key.ts';
import { parsePublicKeys } from '../src/trust/keys.ts';
import { X509Certificate } from '@sigstore/core';
import { createKeylessFixture } from '../test/support/keyless.ts';
import { generateKeyPair, signPayload, simpleSigningPayload } from '../test/support/cosign.ts';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 500);

function cpuPerOp(fn: () => void): number {
  for (let i = 0; i < 20; i++) fn(); // warm up JIT and caches
  const start = process.cpuUsage();
  for (let i = 0; i < ITERATIONS; i++) fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / ITERATIONS;
}

const payload = simpleSigningPayload('registry.example.com/team/app', `sha256:${'a'.repeat(64)}`);

const key = generateKeyPair();
const keySig = { digest: 'sha256:x', payload, signature: Buffer.from(signPayload(payload, key.privateKey), 'base64'), source: 'bench' };
const keys = parsePublicKeys(key.publicKeyPem, 'bench');

const fixture = await createKeylessFixture();
const trust = toTrustMaterial(TrustedRoot.fromJSON(fixture.trustedRoot));
const s = await fixture.signKeyless(payload, {
  issuer: 'https://token.actions.githubusercontent.com',
  subject: 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main',
});
const keylessSig = {
  digest: 'sha256:y',
  payload,
  signature: Buffer.from(s.signature, 'base64'),
  certificatePem: s.certificatePem,
  chainPem: s.chainPem,
  rekorBundle: s.rekorBundle,
  source: 'bench',
};
const leafKey = createPublicKey({ key: X509Certificate.parse(s.certificatePem).publicKey, format: 'der', type: 'spki' });

const rows = {
  'floor: crypto.verify (ECDSA P-256)': cpuPerOp(() => verify('sha256', payload, leafKey, keylessSig.signature)),
  'key authority signature': cpuPerOp(() => findSigningKey(keySig, keys, 'sha256')),
  'keyless signature (full sigstore checks)': cpuPerOp(() => {
    certificateIdentity(X509Certificate.parse(s.certificatePem));
    verifyKeylessSignature(keylessSig, trust, { requireTlog: true, requireSct: true });
  }),
};
const floor = rows['floor: crypto.verify (ECDSA P-256)'];
console.log(`CPU per signature over ${ITERATIONS} iterations (Node ${process.version})`);
for (const [name, ms] of Object.entries(rows)) {
  console.log(`  ${name.padEnd(42)} ${ms.toFixed(3).padStart(8)} ms   ${(ms / floor).toFixed(1).padStart(5)}× floor`);
}
const keyless = rows['keyless signature (full sigstore checks)'];
console.log(`  target keyless ≤ 10 ms: ${keyless <= 10 ? 'met' : 'NOT met'}`);
