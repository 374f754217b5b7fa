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
    // remote and repository go through TUF (trust-roots.ts); never fall back to another root silently.
    throw new SigwatchError('INTERNAL', `${where}: has no sigstoreKeys`);
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
  return certificateAuthority(ca.uri, Buffer.from(ca.certChain, 'base64').toString('utf8'), ca.subject);
}

function log(instance: TransparencyLogInstance) {
  return transparencyLog(instance.baseURL, Buffer.from(instance.publicKey, 'base64').toString('utf8'));
}

type TrustedRootAuthority = TrustedRoot['certificateAuthorities'][number];
type TrustedRootLog = TrustedRoot['tlogs'][number];

/** A CA (Fulcio or TSA) of a trusted root from its PEM chain, leaf first; valid at any time, as upstream sets it. */
export function certificateAuthority(uri: string, chainPem: string, subject = { organization: '', commonName: '' }): TrustedRootAuthority {
  const certificates = (chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((c) => ({ rawBytes: pem.toDER(c) }));
  if (certificates.length === 0) throw new SigwatchError('POLICY_INVALID', `certificate authority ${uri}: certChain holds no PEM certificate`);
  return { subject, uri, certChain: { certificates }, validFor: undefined, operator: '' };
}

/** A Rekor or CT log of a trusted root from its PEM public key; its log id is the SHA-256 of the DER key. */
export function transparencyLog(baseUrl: string, publicKeyPem: string): TrustedRootLog {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return {
    baseUrl,
    hashAlgorithm: HashAlgorithm.SHA2_256,
    publicKey: { rawBytes: der, keyDetails: PublicKeyDetails.PUBLIC_KEY_DETAILS_UNSPECIFIED, validFor: undefined },
    logId: { keyId: createHash('sha256').update(der).digest() },
    checkpointKeyId: undefined,
    operator: '',
  };
}
