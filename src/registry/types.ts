/** OCI distribution content as sigwatch uses it. */

export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

/** Every manifest kind we can read, most specific first, as the Accept header lists them. */
export const MANIFEST_ACCEPT = [MEDIA_TYPES.ociManifest, MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifest, MEDIA_TYPES.dockerManifestList].join(', ');

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
  platform?: { os?: string; architecture?: string; variant?: string };
}

export interface ImageManifest {
  schemaVersion: number;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: number;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** A manifest whose bytes were checked against `digest`. */
export interface Manifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  json: ImageManifest | ImageIndex;
}

/**
 * One repository: in a registry, or in an OCI image layout. Everything the
 * signature and policy steps need, so they never care where content lives.
 */
export interface Repository {
  /** Human-readable location for reasons: `host/repo` or `oci:PATH`. */
  readonly location: string;
  /**
   * The digest a tag or digest reference names; undefined when absent. A
   * registry answers a digest reference without a round trip: everything later
   * is fetched by that digest, so a missing image simply has no signatures.
   */
  resolve(reference: string): Promise<string | undefined>;
  /** Tag → descriptor; undefined when the tag does not exist. */
  resolveTag(tag: string): Promise<Descriptor | undefined>;
  /** Manifest by tag or digest, digest-checked; undefined when it does not exist. */
  getManifest(reference: string): Promise<Manifest | undefined>;
  /** Blob by descriptor, digest- and size-checked. */
  getBlob(descriptor: Descriptor, maxBytes: number): Promise<Buffer>;
  /**
   * Descriptors of the manifests whose `subject` is `digest` (cosign v3
   * bundles, attestations, SBOMs), only those of `artifactType` when given.
   * The list is the store's word: whoever fetches a referrer must still check
   * that its `subject` names the image.
   */
  referrers(digest: string, artifactType?: string): Promise<Descriptor[]>;
}

export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_SIGNATURE_LAYER_BYTES = 4 * 1024 * 1024;
