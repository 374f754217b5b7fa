import { verify } from 'node:crypto';
import type { PublicKey } from '../trust/keys.ts';
import type { CosignSignature } from './types.ts';

export type HashAlgorithm = 'sha224' | 'sha256' | 'sha384' | 'sha512';

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
