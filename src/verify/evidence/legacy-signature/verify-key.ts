import { verify } from 'node:crypto';
import { toSignedEntity, Verifier, type TrustMaterial } from '@sigstore/verify';
import { VerificationError, withSigstoreCodes } from '../../errors.ts';
import type { HashAlgorithm } from '../../../policy/types.ts';
import type { PublicKey } from '../../../trust/keys.ts';
import { legacySignatureBundle } from './as-bundle.ts';
import { assertRekorEntryNamesSigner } from '../../sigstore/entry-signer.ts';
import type { CosignSignature } from './types.ts';

/**
 * The key that made this signature, if any. cosign signs the payload with
 * ECDSA (DER) or RSA PKCS#1 v1.5 over the chosen hash, and Ed25519 over the
 * message itself.
 */
export function findSigningKey(sig: CosignSignature, keys: PublicKey[], hash: HashAlgorithm): PublicKey | undefined {
  return keys.find((k) => {
    try {
      const alg = k.key.asymmetricKeyType === 'ed25519' ? null : hash;
      return verify(alg, sig.payload, k.key, sig.signature);
    } catch {
      // Malformed signature bytes for this key type: simply not this key.
      return false;
    }
  });
}

/**
 * A key-made signature whose Rekor entry the authority requires (`ctlog` on a
 * key authority): the signed entry timestamp against the root's log keys, and
 * the entry's body against this signature and payload, by `@sigstore/verify`.
 */
export function verifyKeySignatureInLog(sig: CosignSignature, key: PublicKey, hash: HashAlgorithm, trust: TrustMaterial): void {
  if (sig.rekorBundle === undefined) throw new VerificationError('TLOG', 'no Rekor bundle annotation, and the authority requires the transparency log');
  if (hash === 'sha224') throw new VerificationError('KEY_UNSUPPORTED', 'sha224 signatures cannot be checked against the transparency log');
  // With a key cosign reads no observer timestamps (`WithNoObserverTimestamps`): an RFC 3161
  // annotation, perhaps from a TSA the root does not list, is not evidence here.
  const bundle = legacySignatureBundle({ ...sig, rfc3161Timestamp: undefined }, { hint: key.id, hash });
  const withKey: TrustMaterial = { ...trust, publicKey: () => ({ publicKey: key.key, validFor: () => true }) };
  withSigstoreCodes(() => new Verifier(withKey, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 1 }).verify(toSignedEntity(bundle, sig.payload)));
  assertRekorEntryNamesSigner(bundle, key.key, 'cosign');
}
