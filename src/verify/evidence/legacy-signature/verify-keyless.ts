import type { TrustMaterial } from '@sigstore/verify';
import type { CertificateIdentity } from '../../sigstore/certificate-identity.ts';
import { parseCertificate } from '../../sigstore/certificates.ts';
import { legacySignatureBundle } from './as-bundle.ts';
import { verifyKeylessEvidence, type KeylessRequirements } from '../../sigstore/verify.ts';
import type { CosignSignature } from './types.ts';
import { VerificationError } from '../../errors.ts';

export type { KeylessRequirements } from '../../sigstore/verify.ts';

/**
 * Verifies a keyless cosign signature against trust material: Fulcio chain
 * valid at the signature's log (or timestamp) time, SCT, Rekor signed entry
 * timestamp and body, and the signature over the payload. Returns whom the
 * certificate names; throws with the reason it does not verify.
 */
export function verifyKeylessSignature(sig: CosignSignature, trust: TrustMaterial, req: KeylessRequirements): CertificateIdentity {
  if (req.requireTimestamp && sig.rfc3161Timestamp === undefined)
    throw new VerificationError('TIMESTAMP', 'no RFC 3161 timestamp annotation, and the authority requires one');
  const bundle = legacySignatureBundle(sig);
  // The Rekor entry, where it is read (not where a timestamp is required), must name the certificate as cosign's comparePublicKey.
  verifyKeylessEvidence(bundle, trust, req, 'cosign', sig.payload);
  const leaf = bundle.verificationMaterial.content;
  if (leaf.$case !== 'x509CertificateChain' || !leaf.x509CertificateChain.certificates[0]) {
    throw new VerificationError('NO_EVIDENCE', 'bundle has no leaf certificate');
  }
  return parseCertificate(leaf.x509CertificateChain.certificates[0].rawBytes).identity;
}
