/**
 * CPU cost of verifying one signature once trust material is loaded, for key
 * and keyless (Fulcio chain + SCT + Rekor SET + body + identity) cosign
 * signatures, next to the floor: a bare `crypto.verify` of the same signature.
 *
 * Keyless is measured three ways, each on signatures it has not verified
 * before unless said otherwise:
 * - one certificate, many signatures: what one cosign invocation signing many
 *   images produces (distinct payloads, signatures and Rekor entries; the
 *   certificate's chain and SCTs are checked once per process);
 * - a new certificate for every signature: nothing cached but the trust
 *   material's own CA checks (the floor there is the CA's P-384 signature over
 *   the leaf, 1.6 ms on this kind of machine);
 * - the same signature again (what earlier versions of this benchmark measured).
 * Rounds of each are interleaved; the median and interquartile range are printed.
 * Target (issue 23): keyless ≤ 2 ms CPU per signature.
 */
import { createPublicKey, verify } from 'node:crypto';
import { X509Certificate } from '@sigstore/core';
import { trustMaterialFromJson } from '../src/trust/trusted-root.ts';
import { verifyKeylessSignature } from '../src/verify/evidence/legacy-signature/verify-keyless.ts';
import { findSigningKey } from '../src/verify/evidence/legacy-signature/verify-key.ts';
import type { CosignSignature } from '../src/verify/evidence/legacy-signature/types.ts';
import { parsePublicKeys } from '../src/trust/keys.ts';
import { createKeylessFixture, type KeylessSignature } from '../test/support/keyless.ts';
import { generateKeyPair, signPayload, simpleSigningPayload } from '../test/support/cosign.ts';
import { writeResults } from './support.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 25);
const BATCH = Number(process.env.BENCH_BATCH ?? 20);
const WARM_UP = 20;

const payloadFor = (n: number) => simpleSigningPayload('registry.example.com/team/app', `sha256:${n.toString(16).padStart(64, '0')}`);
const payload = payloadFor(0);

const key = generateKeyPair();
const keySig = { digest: 'sha256:x', payload, signature: Buffer.from(signPayload(payload, key.privateKey), 'base64'), source: 'bench' };
const keys = parsePublicKeys(key.publicKeyPem, 'bench');

const fixture = await createKeylessFixture();
const trust = trustMaterialFromJson(fixture.trustedRoot, 'the bench trusted root');
const identity = {
  issuer: 'https://token.actions.githubusercontent.com',
  subject: 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main',
};
const asSignature = (p: Buffer, s: KeylessSignature): CosignSignature => ({
  digest: 'sha256:y',
  payload: p,
  signature: Buffer.from(s.signature, 'base64'),
  certificatePem: s.certificatePem,
  chainPem: s.chainPem,
  rekorBundle: s.rekorBundle,
  source: 'bench',
});
const needed = WARM_UP + ROUNDS * BATCH;
const signer = await fixture.signer(identity);
const oneCertificate: CosignSignature[] = [];
const newCertificates: CosignSignature[] = [];
for (let i = 0; i < needed; i++) {
  oneCertificate.push(asSignature(payloadFor(i + 1), await signer.sign(payloadFor(i + 1))));
  newCertificates.push(asSignature(payloadFor(needed + i + 1), await fixture.signKeyless(payloadFor(needed + i + 1), identity)));
}
const leafKey = createPublicKey({ key: X509Certificate.parse(oneCertificate[0]!.certificatePem!).publicKey, format: 'der', type: 'spki' });
const strict = { requireTlog: true, requireSct: true };
const keyless = (s: CosignSignature) => verifyKeylessSignature(s, trust, strict);

/** Each row: the work for op `i` (0-based over warm-up then all rounds). */
const rows: [string, (i: number) => void][] = [
  ['floor: crypto.verify (ECDSA P-256)', () => verify('sha256', payload, leafKey, oneCertificate[0]!.signature)],
  ['key authority signature', () => findSigningKey(keySig, keys, 'sha256')],
  ['keyless, one certificate, many signatures', (i) => keyless(oneCertificate[i]!)],
  ['keyless, a new certificate every signature', (i) => keyless(newCertificates[i]!)],
  ['keyless, the same signature again', () => keyless(oneCertificate[0]!)],
];

const perOp: number[][] = rows.map(() => []);
rows.forEach(([, fn]) => {
  for (let i = 0; i < WARM_UP; i++) fn(i);
});
for (let r = 0; r < ROUNDS; r++) {
  // Interleaved, the order turned each round, so that load from elsewhere falls on every row alike.
  const order = r % 2 ? rows.map((_, i) => i) : rows.map((_, i) => rows.length - 1 - i);
  for (const row of order) {
    const fn = rows[row]![1];
    const start = process.cpuUsage();
    for (let b = 0; b < BATCH; b++) fn(WARM_UP + r * BATCH + b);
    const used = process.cpuUsage(start);
    perOp[row]!.push((used.user + used.system) / 1000 / BATCH);
  }
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.round(q * (xs.length - 1))]!;
const floor = quantile(perOp[0]!, 0.5);
console.log(`CPU per signature, median [p25–p75] of ${ROUNDS} interleaved rounds of ${BATCH} (Node ${process.version})`);
rows.forEach(([name], i) => {
  const ms = perOp[i]!;
  const median = quantile(ms, 0.5);
  const spread = `[${quantile(ms, 0.25).toFixed(3)}–${quantile(ms, 0.75).toFixed(3)}]`;
  console.log(`  ${name.padEnd(44)} ${median.toFixed(3).padStart(7)} ms ${spread.padEnd(15)} ${(median / floor).toFixed(1).padStart(5)}× floor`);
});
const cached = quantile(perOp[2]!, 0.5);
const cold = quantile(perOp[3]!, 0.5);
console.log(
  `  target keyless ≤ 2 ms (one certificate, many signatures): ${cached <= 2 ? 'met' : 'NOT met'}; a new certificate every signature: ${cold <= 2 ? 'met' : 'NOT met'}`,
);

// Into bench/results.json beside the other figures (the README's table is made from it).
writeResults({
  verifyCpu: Object.fromEntries(
    rows.map(([name], i) => [
      name,
      { median: quantile(perOp[i]!, 0.5), p25: quantile(perOp[i]!, 0.25), p75: quantile(perOp[i]!, 0.75), samples: perOp[i]!.length },
    ]),
  ),
});
