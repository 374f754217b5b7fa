import { verify } from 'node:crypto';
import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { dsse } from '@sigstore/core';
import type { TrustMaterial } from '@sigstore/verify';
import { isObject } from '../../../json.ts';
import type { PublicKey } from '../../../trust/keys.ts';
import type { CertificateIdentity } from '../../sigstore/certificate-identity.ts';
import { parseCertificate, type ParsedCertificate } from '../../sigstore/certificates.ts';
import { verifyKeyDsseBundle, verifyKeylessEvidence, type KeylessRequirements } from '../../sigstore/verify.ts';
import type { HashAlgorithm } from '../../../policy/types.ts';
import { VerificationError } from '../../errors.ts';
import { SigwatchError } from '../../../errors.ts';
import { parseEvidenceJson } from '../strict-json.ts';

/** The predicate cosign v3 signs to say "this image is signed" (cosign `sign --new-bundle-format`). */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/** A bundle document as `@sigstore/bundle` reads it, or why it is not one. */
export function parseBundle(json: unknown): Bundle {
  try {
    return bundleFromJSON(json);
  } catch (err) {
    throw new VerificationError('EVIDENCE_MALFORMED', `not a valid sigstore bundle: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Verifies a keyless sigstore bundle signing an image: the bundle's own
 * cryptography by `@sigstore/verify` under cosign's evidence rules, then that
 * its DSSE statement is cosign's signature predicate for exactly this image digest.
 */
export function verifyImageBundle(json: unknown, imageDigest: string, trust: TrustMaterial, req: KeylessRequirements): CertificateIdentity {
  const bundle = parseBundle(json);
  if (bundle.content.$case !== 'dsseEnvelope')
    throw new VerificationError('SUBJECT_MISMATCH', 'message-signature bundles cannot name an image digest; expected a DSSE statement');
  const leaf = leafCertificate(bundle);
  verifyKeylessEvidence(bundle, trust, req, 'sigstore-go');
  checkImageStatement(bundle, imageDigest);
  return leaf.identity;
}

/**
 * A cosign v3 bundle made with `cosign sign --key`: the bundle must carry a
 * public key (a certificate bundle is keyless evidence, refused here as
 * sigstore-go's `WithKey` policy does); the first of `keys` that verifies is
 * returned, tried in order whatever the bundle's hint says.
 */
export function verifyKeyImageBundle(json: unknown, imageDigest: string, keys: PublicKey[], hash: HashAlgorithm, logTrust?: TrustMaterial): PublicKey {
  const bundle = parseBundle(json);
  if (bundle.content.$case !== 'dsseEnvelope')
    throw new VerificationError('SUBJECT_MISMATCH', 'message-signature bundles cannot name an image digest; expected a DSSE statement');
  if (bundle.verificationMaterial.content.$case !== 'publicKey')
    throw new VerificationError('NO_EVIDENCE', 'bundle is signed with a certificate (keyless), not a key');
  let lastError: unknown;
  for (const key of keys) {
    try {
      verifyKeyDsseBundle(bundle, key, hash, logTrust);
      checkImageStatement(bundle, imageDigest);
      return key;
    } catch (err) {
      lastError = err;
    }
  }
  if (lastError instanceof VerificationError && lastError.code === 'SIGNATURE_INVALID') {
    const other = otherHash(bundle, keys, hash);
    if (other)
      throw new VerificationError(
        'SIGNATURE_INVALID',
        `${lastError.message} with hashAlgorithm ${hash}; it verifies with ${other} (cosign signs ${other} for this key: set key.hashAlgorithm: ${other})`,
      );
    if (keys.some((k) => k.key.asymmetricKeyType === 'ed25519')) {
      throw new VerificationError(
        'KEY_UNSUPPORTED',
        `${lastError.message} (Ed25519 is checked as pure Ed25519, as cosign verify --key does; cosign v3 sign --key signs Ed25519ph, which neither accepts)`,
      );
    }
  }
  throw lastError ?? new SigwatchError('CONFIG', 'authority has no keys');
}

/**
 * cosign v3 signs with the key's own hash (SHA-384 for P-384, SHA-512 for
 * P-521) while `verify` and `hashAlgorithm` default to SHA-256: name the hash
 * that would verify, so the deny says how to fix the policy.
 */
function otherHash(bundle: Bundle, keys: PublicKey[], hash: HashAlgorithm): HashAlgorithm | undefined {
  if (bundle.content.$case !== 'dsseEnvelope' || bundle.content.dsseEnvelope.signatures.length !== 1) return undefined;
  const env = bundle.content.dsseEnvelope;
  const pae = dsse.preAuthEncoding(env.payloadType, Buffer.from(env.payload));
  const candidates: HashAlgorithm[] = ['sha256', 'sha384', 'sha512'];
  for (const h of candidates.filter((c) => c !== hash)) {
    for (const key of keys) {
      if (key.key.asymmetricKeyType === 'ed25519') continue;
      try {
        if (verify(h, pae, key.key, Buffer.from(env.signatures[0]!.sig))) return h;
      } catch {
        // not this key
      }
    }
  }
  return undefined;
}

function leafCertificate(bundle: Bundle): ParsedCertificate {
  const m = bundle.verificationMaterial.content;
  const raw =
    m.$case === 'certificate' ? m.certificate.rawBytes : m.$case === 'x509CertificateChain' ? m.x509CertificateChain.certificates[0]?.rawBytes : undefined;
  if (!raw) throw new VerificationError('NO_EVIDENCE', 'bundle has no certificate (not a keyless signature)');
  return parseCertificate(raw);
}

/** The statement must be cosign's signature predicate with this image among its subjects. */
function checkImageStatement(bundle: Bundle, imageDigest: string): void {
  if (bundle.content.$case !== 'dsseEnvelope') throw new VerificationError('SUBJECT_MISMATCH', 'expected a DSSE statement');
  const envelope = bundle.content.dsseEnvelope;
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE)
    throw new VerificationError('SUBJECT_MISMATCH', `DSSE payload type ${envelope.payloadType} is not an in-toto statement`);
  const statement = parseEvidenceJson(Buffer.from(envelope.payload).toString('utf8'), 'in-toto statement');
  if (!isObject(statement)) throw new VerificationError('EVIDENCE_MALFORMED', 'in-toto statement is not a JSON object');
  if (statement.predicateType !== COSIGN_SIGN_PREDICATE) {
    throw new VerificationError('SUBJECT_MISMATCH', `predicate type ${String(statement.predicateType)} is not a cosign signature (${COSIGN_SIGN_PREDICATE})`);
  }
  const hex = imageDigest.replace(/^sha256:/, '');
  const subjects = Array.isArray(statement.subject) ? statement.subject : [];
  const named = subjects.some((s) => isObject(s) && isObject(s.digest) && s.digest.sha256 === hex);
  if (!named) throw new VerificationError('SUBJECT_MISMATCH', 'statement subjects do not include this image digest');
}
