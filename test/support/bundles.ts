import { createHash, createPublicKey, sign, type KeyObject } from 'node:crypto';
import type { SerializedBundle, TransparencyLogEntry } from '@sigstore/bundle';
import { TransparencyLogEntry as TransparencyLogEntryCodec } from '@sigstore/protobuf-specs';
import { preAuthEncoding } from './attestations.ts';
import { ed25519Sign } from './ed25519ph.ts';
import { buildArtifactManifest, buildIndex, MediaTypes, sha256Digest, type BuiltManifest } from './images.ts';
import type { KeylessFixture } from './keyless.ts';

const IN_TOTO = 'application/vnd.in-toto+json';

/** What cosign v3 (`cosign sign` with the new bundle format) writes, shaped as its OCI layout. */
export const BUNDLE_V03_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
const EMPTY_CONFIG = { mediaType: 'application/vnd.oci.empty.v1+json', bytes: Buffer.from('{}') };

/** The in-toto statement cosign v3 signs for an image. */
export function cosignSignStatement(name: string, digest: string, predicateType = COSIGN_SIGN_PREDICATE): Buffer {
  return Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name, digest: { sha256: digest.replace(/^sha256:/, '') } }],
      predicateType,
      predicate: {},
    }),
  );
}

/** The referrer artifact holding a bundle, with the image as its subject. */
export function bundleReferrer(subject: BuiltManifest, bundle: SerializedBundle | Record<string, unknown>): BuiltManifest {
  return buildArtifactManifest({
    artifactType: BUNDLE_V03_MEDIA_TYPE,
    subject,
    annotations: { 'dev.sigstore.bundle.content': 'dsse-envelope', 'dev.sigstore.bundle.predicateType': COSIGN_SIGN_PREDICATE },
    config: EMPTY_CONFIG,
    layers: [{ mediaType: BUNDLE_V03_MEDIA_TYPE, bytes: Buffer.from(JSON.stringify(bundle)) }],
  });
}

/**
 * The referrers tag schema's index (`sha256-<hex>` tag) listing referrers,
 * for registries without the referrers API, as cosign and oras write it.
 */
export function referrersIndex(referrers: BuiltManifest[]): BuiltManifest {
  const index = buildIndex([]);
  const json = {
    ...index.json,
    manifests: referrers.map((r) => ({ mediaType: r.mediaType, size: r.bytes.length, digest: r.digest, artifactType: r.json.artifactType })),
  };
  const bytes = Buffer.from(JSON.stringify(json));
  return { ...index, json: json as typeof index.json, bytes, digest: sha256Digest(bytes), children: referrers };
}

// ---- cosign v3 exactly -------------------------------------------------------
// `cosign sign` (v3, new bundle format by default), read from cosign's
// cmd/cosign/cli/sign/sign.go (signDigestBundle), internal/key/svkeypair.go and
// pkg/oci/remote/write.go (WriteAttestationNewBundleFormat, WriteReferrer).

/**
 * The statement `signDigestBundle` marshals: one subject with the digest
 * alone (no name) and empty annotations, the cosign sign predicate, an empty
 * predicate.
 */
export function cosignV3SignStatement(digest: string): Buffer {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ digest: { [algorithm]: hex }, annotations: {} }],
      predicateType: COSIGN_SIGN_PREDICATE,
      predicate: {},
    }),
  );
}

/** The hint cosign v3 writes for a key: base64 of the SHA-256 of its DER SubjectPublicKeyInfo. */
export function cosignKeyHint(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');
}

export interface CosignKeyBundleOptions {
  /** The digest the key signs with: cosign v3 uses the key's own (SHA-384 for P-384); Ed25519 signs the message itself. */
  hash?: 'sha256' | 'sha384' | 'sha512';
  /** `--tlog-upload` (cosign's default): a `dsse` entry in this fixture's Rekor. */
  rekor?: KeylessFixture;
  /** What the bundle's unauthenticated hint says (default: the signing key's own). */
  hint?: string;
  /** An RFC 3161 timestamp over the signature from this fixture's TSA (`--timestamp-server-url`). */
  tsa?: KeylessFixture;
  /** Ed25519 keys: cosign v3 signs Ed25519ph (its default load option); `pure` is what sigstore-go and sigstore-js sign. */
  ed25519?: 'ph' | 'pure';
}

/**
 * `cosign sign --key` (v3): a v0.3 bundle with the DSSE envelope over the
 * statement, the key's hint as verification material, and the Rekor entry
 * when uploaded. Shaped as sigstore-go's protojson writes it: empty fields omitted.
 */
export async function cosignKeyBundle(statement: Buffer, privateKey: KeyObject, opts: CosignKeyBundleOptions = {}): Promise<Record<string, unknown>> {
  const publicKey = createPublicKey(privateKey);
  const pae = preAuthEncoding(IN_TOTO, statement);
  const signature =
    privateKey.asymmetricKeyType === 'ed25519' ? ed25519Sign(pae, privateKey, opts.ed25519 ?? 'ph') : sign(opts.hash ?? 'sha256', pae, privateKey);
  const dsseEnvelope = { payload: statement.toString('base64'), payloadType: IN_TOTO, signatures: [{ sig: signature.toString('base64') }] };
  const verificationMaterial: Record<string, unknown> = { publicKey: { hint: opts.hint ?? cosignKeyHint(publicKey) } };
  if (opts.rekor) {
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const entry = await opts.rekor.logDsse(JSON.stringify(dsseEnvelope), statement, signature, pem);
    verificationMaterial.tlogEntries = [tlogEntryJson(entry)];
  }
  if (opts.tsa)
    verificationMaterial.timestampVerificationData = { rfc3161Timestamps: [{ signedTimestamp: (await opts.tsa.timestamp(signature)).toString('base64') }] };
  return { mediaType: BUNDLE_V03_MEDIA_TYPE, verificationMaterial, dsseEnvelope };
}

/** Adds an RFC 3161 timestamp over the bundle's DSSE signature from `tsa` (cosign v3 keyless on the public-good instance carries one). */
export async function withTimestamp(bundle: SerializedBundle | Record<string, unknown>, tsa: KeylessFixture): Promise<Record<string, unknown>> {
  const b = structuredClone(bundle) as { dsseEnvelope: { signatures: { sig: string }[] }; verificationMaterial: Record<string, unknown> };
  const token = await tsa.timestamp(Buffer.from(b.dsseEnvelope.signatures[0]!.sig, 'base64'));
  b.verificationMaterial.timestampVerificationData = { rfc3161Timestamps: [{ signedTimestamp: token.toString('base64') }] };
  return b as unknown as Record<string, unknown>;
}

function tlogEntryJson(entry: TransparencyLogEntry): unknown {
  return TransparencyLogEntryCodec.toJSON(entry);
}

/**
 * The referrer `WriteAttestationNewBundleFormat` pushes: OCI manifest, the
 * empty config whose descriptor also carries the artifactType, one bundle
 * layer, creation time and predicate type annotations, the image as subject,
 * and artifactType `application/vnd.dev.sigstore.bundle.v0.3+json`.
 */
export function cosignV3Referrer(
  subject: BuiltManifest,
  bundle: SerializedBundle | Record<string, unknown> | Buffer,
  opts: { predicateType?: string; created?: string } = {},
): BuiltManifest {
  const config = { mediaType: EMPTY_CONFIG.mediaType, bytes: EMPTY_CONFIG.bytes, digest: sha256Digest(EMPTY_CONFIG.bytes) };
  // Bytes as given: a bundle whose JSON text itself is the case (a key twice).
  const layerBytes = Buffer.isBuffer(bundle) ? bundle : Buffer.from(JSON.stringify(bundle));
  const layer = { mediaType: BUNDLE_V03_MEDIA_TYPE, bytes: layerBytes, digest: sha256Digest(layerBytes) };
  const json = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: { mediaType: config.mediaType, size: config.bytes.length, digest: config.digest, artifactType: BUNDLE_V03_MEDIA_TYPE },
    layers: [{ mediaType: layer.mediaType, size: layer.bytes.length, digest: layer.digest }],
    annotations: {
      'dev.sigstore.bundle.content': 'dsse-envelope',
      'dev.sigstore.bundle.predicateType': opts.predicateType ?? COSIGN_SIGN_PREDICATE,
      'org.opencontainers.image.created': opts.created ?? '2026-01-01T00:00:00Z',
    },
    subject: { mediaType: subject.mediaType, size: subject.bytes.length, digest: subject.digest },
    artifactType: BUNDLE_V03_MEDIA_TYPE,
  };
  const bytes = Buffer.from(JSON.stringify(json));
  return { mediaType: json.mediaType, bytes, digest: sha256Digest(bytes), json: json as unknown as BuiltManifest['json'], blobs: [config, layer] };
}
