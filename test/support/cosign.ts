import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { buildArtifactManifest, MediaTypes, sha256Digest, type BuiltManifest } from './images.ts';
import { pushManifest, type TestRegistry } from './registry.ts';

// Names from cosign's pkg/oci/static/signature.go and pkg/types.
export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const CosignAnnotations = {
  signature: 'dev.cosignproject.cosign/signature',
  certificate: 'dev.sigstore.cosign/certificate',
  chain: 'dev.sigstore.cosign/chain',
  bundle: 'dev.sigstore.cosign/bundle',
  rfc3161Timestamp: 'dev.sigstore.cosign/rfc3161timestamp',
} as const;

/** cosign's bundle.RekorBundle as encoding/json writes it (the `[]byte` SET becomes base64). */
export interface CosignRekorBundle {
  SignedEntryTimestamp: string;
  Payload: { body: string; integratedTime: number; logIndex: number; logID: string };
}

/** cosign's bundle.RFC3161Timestamp: a base64 DER TimeStampResp. */
export interface CosignRfc3161Timestamp {
  SignedRFC3161Timestamp: string;
}

export interface SignatureLayer {
  payload: Buffer;
  /** base64 */
  signature: string;
  certificatePem?: string;
  chainPem?: string;
  rekorBundle?: CosignRekorBundle;
  rfc3161Timestamp?: CosignRfc3161Timestamp;
}

export type KeyAlgorithm = 'ecdsa-p256' | 'ecdsa-p384' | 'rsa' | 'ed25519';

export function generateKeyPair(alg: KeyAlgorithm = 'ecdsa-p256'): { privateKey: KeyObject; publicKeyPem: string } {
  const { privateKey, publicKey } =
    alg === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : alg === 'ed25519'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('ec', { namedCurve: alg === 'ecdsa-p384' ? 'secp384r1' : 'prime256v1' });
  return { privateKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** The simple-signing payload `cosign sign` signs, byte for byte (Go struct field order). */
export function simpleSigningPayload(dockerReference: string, digest: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': dockerReference },
        image: { 'docker-manifest-digest': digest },
        type: 'cosign container image signature',
      },
      optional: null,
    }),
  );
}

/** base64 signature as cosign stores it: ECDSA as DER, RSA as PKCS#1 v1.5, Ed25519 over the raw payload. */
export function signPayload(payload: Buffer, privateKey: KeyObject, hash = 'sha256'): string {
  return sign(privateKey.asymmetricKeyType === 'ed25519' ? null : hash, payload, privateKey).toString('base64');
}

/** The `.sig` image cosign pushes: one simple-signing layer per signature, annotations carrying the rest. */
export function legacySignatureManifest(layers: SignatureLayer[]): BuiltManifest {
  // go-containerregistry's config for empty.Image plus one appended layer per signature.
  const config = {
    architecture: '',
    created: '0001-01-01T00:00:00Z',
    history: layers.map(() => ({ created: '0001-01-01T00:00:00Z' })),
    os: '',
    rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256Digest(l.payload)) },
    config: {},
  };
  return buildArtifactManifest({
    config: { mediaType: MediaTypes.ociConfig, bytes: Buffer.from(JSON.stringify(config)) },
    layers: layers.map((layer) => ({ mediaType: SIMPLE_SIGNING_MEDIA_TYPE, bytes: layer.payload, annotations: signatureAnnotations(layer) })),
  });
}

function signatureAnnotations(layer: SignatureLayer): Record<string, string> {
  const annotations: Record<string, string> = { [CosignAnnotations.signature]: layer.signature };
  if (layer.certificatePem !== undefined) {
    // cosign writes the chain annotation whenever it writes a certificate, empty or not.
    annotations[CosignAnnotations.certificate] = layer.certificatePem;
    annotations[CosignAnnotations.chain] = layer.chainPem ?? '';
  }
  if (layer.rekorBundle) annotations[CosignAnnotations.bundle] = JSON.stringify(layer.rekorBundle);
  if (layer.rfc3161Timestamp) annotations[CosignAnnotations.rfc3161Timestamp] = JSON.stringify(layer.rfc3161Timestamp);
  return annotations;
}

/** `sha256:abc…` → `sha256-abc….sig`, the tag cosign stores signatures under. */
export function signatureTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

/**
 * `cosign sign --key`: signs `image` as `<registry>/<repo>` (or
 * `opts.dockerReference`) and pushes the `.sig` manifest, replacing any
 * existing one. Returns the pushed signature manifest.
 */
export async function signImageWithKey(
  reg: TestRegistry,
  repo: string,
  image: BuiltManifest,
  privateKey: KeyObject,
  opts: { dockerReference?: string; hash?: string } = {},
): Promise<BuiltManifest> {
  const payload = simpleSigningPayload(opts.dockerReference ?? `${reg.host}/${repo}`, image.digest);
  const manifest = legacySignatureManifest([{ payload, signature: signPayload(payload, privateKey, opts.hash) }]);
  await pushManifest(reg, repo, signatureTag(image.digest), manifest);
  return manifest;
}
