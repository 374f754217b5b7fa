import { X509Certificate } from '@sigstore/core';
import { toSignedEntity, Verifier, VerificationError, type TrustMaterial } from '@sigstore/verify';
import { certificateIdentity, type CertificateIdentity } from './certificate-identity.ts';
import { legacySignatureBundle } from './cosign-bundle.ts';
import type { CosignSignature } from './types.ts';

export interface KeylessRequirements {
  /** A Rekor entry, checked against the trust root's log keys, must vouch for the signature. */
  requireTlog: boolean;
  /** The certificate must carry an SCT from a trusted CT log (off with `insecureIgnoreSCT`). */
  requireSct: boolean;
  /** An RFC 3161 timestamp from the trust root's TSA must date the signature. */
  requireTimestamp?: boolean;
}

/**
 * Verifies a keyless cosign signature against trust material: Fulcio chain
 * valid at the signature's log (or timestamp) time, SCT, Rekor signed entry
 * timestamp and body, and the signature over the payload. Returns whom the
 * certificate names; throws with the reason it does not verify.
 */
export function verifyKeylessSignature(sig: CosignSignature, trust: TrustMaterial, req: KeylessRequirements): CertificateIdentity {
  if (req.requireTimestamp && sig.rfc3161Timestamp === undefined) throw new Error('no RFC 3161 timestamp annotation, and the authority requires one');
  const bundle = legacySignatureBundle(sig);
  const verifier = new Verifier(trust, {
    tlogThreshold: req.requireTlog ? 1 : 0,
    ctlogThreshold: req.requireSct ? 1 : 0,
    // The log's integrated time (or an RFC 3161 timestamp) is when the certificate must have been valid.
    timestampThreshold: 1,
  });
  try {
    verifier.verify(toSignedEntity(bundle, sig.payload));
  } catch (err) {
    if (err instanceof VerificationError) throw new Error(`${err.code}: ${err.message}`, { cause: err });
    throw err;
  }
  const leaf = bundle.verificationMaterial.content;
  if (leaf.$case !== 'x509CertificateChain' || !leaf.x509CertificateChain.certificates[0]) {
    throw new Error('bundle has no leaf certificate');
  }
  return certificateIdentity(X509Certificate.parse(Buffer.from(leaf.x509CertificateChain.certificates[0].rawBytes)));
}
