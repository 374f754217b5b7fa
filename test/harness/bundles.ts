import type { SerializedBundle } from '@sigstore/bundle';
import { buildArtifactManifest, buildIndex, sha256Digest, type BuiltManifest } from './images.ts';

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
