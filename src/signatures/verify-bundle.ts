import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { X509Certificate } from '@sigstore/core';
import { toSignedEntity, VerificationError, Verifier, type TrustMaterial } from '@sigstore/verify';
import { isObject } from '../registry/manifest.ts';
import { certificateIdentity, type CertificateIdentity } from './certificate-identity.ts';
import type { KeylessRequirements } from './verify-keyless.ts';

/** The predicate cosign v3 signs to say "this image is signed" (cosign `sign --new-bundle-format`). */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/**
 * Verifies a keyless sigstore bundle signing an image: the bundle's own
 * cryptography by `@sigstore/verify`, then that its DSSE statement is cosign's
 * signature predicate for exactly this image digest.
 */
export function verifyImageBundle(json: unknown, imageDigest: string, trust: TrustMaterial, req: KeylessRequirements): CertificateIdentity {
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(json);
  } catch (err) {
    throw new Error(`not a valid sigstore bundle: ${(err as Error).message}`, { cause: err });
  }
  if (bundle.content.$case !== 'dsseEnvelope') throw new Error('message-signature bundles cannot name an image digest; expected a DSSE statement');
  const leaf = leafCertificate(bundle);
  if (req.requireTimestamp && !bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps.length) {
    throw new Error('no RFC 3161 timestamp in the bundle, and the authority requires one');
  }
  const verifier = new Verifier(trust, { tlogThreshold: req.requireTlog ? 1 : 0, ctlogThreshold: req.requireSct ? 1 : 0, timestampThreshold: 1 });
  try {
    verifier.verify(toSignedEntity(bundle));
  } catch (err) {
    if (err instanceof VerificationError) throw new Error(`${err.code}: ${err.message}`, { cause: err });
    throw err;
  }
  const envelope = bundle.content.dsseEnvelope;
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) throw new Error(`DSSE payload type ${envelope.payloadType} is not an in-toto statement`);
  checkStatement(Buffer.from(envelope.payload), imageDigest);
  return certificateIdentity(leaf);
}

function leafCertificate(bundle: Bundle): X509Certificate {
  const m = bundle.verificationMaterial.content;
  const raw = m.$case === 'certificate' ? m.certificate.rawBytes : m.$case === 'x509CertificateChain' ? m.x509CertificateChain.certificates[0]?.rawBytes : undefined;
  if (!raw) throw new Error('bundle has no certificate (not a keyless signature)');
  return X509Certificate.parse(Buffer.from(raw));
}

/** The statement must be cosign's signature predicate with this image among its subjects. */
function checkStatement(payload: Buffer, imageDigest: string): void {
  let statement: unknown;
  try {
    statement = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new Error('in-toto statement is not valid JSON');
  }
  if (!isObject(statement)) throw new Error('in-toto statement is not a JSON object');
  if (statement.predicateType !== COSIGN_SIGN_PREDICATE) {
    throw new Error(`predicate type ${String(statement.predicateType)} is not a cosign signature (${COSIGN_SIGN_PREDICATE})`);
  }
  const hex = imageDigest.replace(/^sha256:/, '');
  const subjects = Array.isArray(statement.subject) ? statement.subject : [];
  const named = subjects.some((s) => isObject(s) && isObject(s.digest) && s.digest.sha256 === hex);
  if (!named) throw new Error('statement subjects do not include this image digest');
}
