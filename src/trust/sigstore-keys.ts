import { createHash, createPublicKey } from 'node:crypto';
import { pem } from '@sigstore/core';
import { HashAlgorithm, PublicKeyDetails, type TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial, type TrustMaterial } from '@sigstore/verify';
import { SigwatchError } from '../errors.ts';
import type { CertificateAuthority, SigstoreKeys, TransparencyLogInstance, TrustRoot } from '../policy/types.ts';

/**
 * A `TrustRoot` resource's `sigstoreKeys` (a private Fulcio, Rekor, CT log or
 * TSA; base64-encoded PEM as policy-controller stores it) as the sigstore
 * trust material that verifies against it. Log ids are the SHA-256 of the
 * DER public key, as Rekor and CT logs define them.
 */
const converted = new WeakMap<TrustRoot, TrustMaterial>();

export function sigstoreKeysTrustMaterial(root: TrustRoot): TrustMaterial {
  let material = converted.get(root);
  if (!material) {
    material = convert(root);
    converted.set(root, material);
  }
  return material;
}

function convert(root: TrustRoot): TrustMaterial {
  const keys = root.spec.sigstoreKeys;
  const where = `TrustRoot ${root.metadata.name}`;
  if (!keys) {
    // remote/repository need a TUF client; never fall back to another root silently.
    throw new SigwatchError('CONFIG', `${where}: only sigstoreKeys trust roots are supported yet (remote and repository need TUF)`);
  }
  try {
    return toTrustMaterial(toTrustedRoot(keys));
  } catch (err) {
    throw new SigwatchError('CONFIG', `${where}: ${(err as Error).message}`, { cause: err });
  }
}

function toTrustedRoot(keys: SigstoreKeys): TrustedRoot {
  return {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    certificateAuthorities: (keys.certificateAuthorities ?? []).map(authority),
    timestampAuthorities: (keys.timestampAuthorities ?? []).map(authority),
    tlogs: (keys.tLogs ?? []).map(log),
    ctlogs: (keys.ctLogs ?? []).map(log),
  };
}

function authority(ca: CertificateAuthority) {
  const chain = Buffer.from(ca.certChain, 'base64').toString('utf8');
  const certificates = (chain.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((c) => ({ rawBytes: pem.toDER(c) }));
  if (certificates.length === 0) throw new Error(`certificate authority ${ca.uri}: certChain holds no PEM certificate`);
  return { subject: ca.subject, uri: ca.uri, certChain: { certificates }, validFor: undefined, operator: '' };
}

function log(instance: TransparencyLogInstance) {
  const der = createPublicKey(Buffer.from(instance.publicKey, 'base64').toString('utf8')).export({ type: 'spki', format: 'der' });
  return {
    baseUrl: instance.baseURL,
    hashAlgorithm: HashAlgorithm.SHA2_256,
    publicKey: { rawBytes: der, keyDetails: PublicKeyDetails.PUBLIC_KEY_DETAILS_UNSPECIFIED, validFor: undefined },
    logId: { keyId: createHash('sha256').update(der).digest() },
    checkpointKeyId: undefined,
    operator: '',
  };
}
