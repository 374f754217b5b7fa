import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export interface Blob {
  digest: string;
  bytes: Buffer;
  mediaType: string;
}

export interface Platform {
  os: string;
  architecture: string;
}

export interface Descriptor {
  mediaType: string;
  size: number;
  digest: string;
  annotations?: Record<string, string>;
  platform?: Platform;
}

/** The manifest and index fields the builders write (both shapes in one type). */
export interface ManifestJson {
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface BuiltManifest {
  mediaType: string;
  bytes: Buffer;
  digest: string;
  json: ManifestJson;
  /** Config and layers this manifest references; child manifests are in `children`. */
  blobs: Blob[];
  children?: BuiltManifest[];
  /** Set on images, so an index can describe them. */
  platform?: Platform;
}

export function sha256Digest(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function toBlob(mediaType: string, bytes: Buffer): Blob {
  return { mediaType, bytes, digest: sha256Digest(bytes) };
}

function descriptorOf(blob: Blob, annotations?: Record<string, string>): Descriptor {
  const descriptor: Descriptor = { mediaType: blob.mediaType, size: blob.bytes.length, digest: blob.digest };
  // Go's encoding/json writes map keys sorted; matching it keeps digests equal to cosign's.
  if (annotations) descriptor.annotations = Object.fromEntries(Object.entries(annotations).sort(([a], [b]) => (a < b ? -1 : 1)));
  return descriptor;
}

function finish(json: ManifestJson, blobs: Blob[]): BuiltManifest {
  const bytes = Buffer.from(JSON.stringify(json));
  // Two layers can share bytes (cosign signatures over one payload); push and store them once.
  const unique = [...new Map(blobs.map((b) => [b.digest, b])).values()];
  return { mediaType: json.mediaType, bytes, digest: sha256Digest(bytes), json, blobs: unique };
}

/**
 * An image-manifest-shaped manifest around arbitrary config and layer bytes;
 * images and cosign signatures are both this shape.
 */
export function buildArtifactManifest(opts: {
  mediaType?: string;
  /** OCI 1.1 artifacts: what the manifest is, and the manifest it refers to. */
  artifactType?: string;
  subject?: BuiltManifest;
  annotations?: Record<string, string>;
  config: { mediaType: string; bytes: Buffer };
  layers: { mediaType: string; bytes: Buffer; annotations?: Record<string, string> }[];
}): BuiltManifest {
  const config = toBlob(opts.config.mediaType, opts.config.bytes);
  const layers = opts.layers.map((l) => ({ blob: toBlob(l.mediaType, l.bytes), annotations: l.annotations }));
  const json: ManifestJson = {
    schemaVersion: 2,
    mediaType: opts.mediaType ?? MediaTypes.ociManifest,
    ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
    config: descriptorOf(config),
    layers: layers.map((l) => descriptorOf(l.blob, l.annotations)),
    ...(opts.subject ? { subject: { mediaType: opts.subject.mediaType, size: opts.subject.bytes.length, digest: opts.subject.digest } } : {}),
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  return finish(json, [config, ...layers.map((l) => l.blob)]);
}

/** Bytes that differ per seed and index but are the same on every run. */
function seededBytes(seed: string, index: number, length: number): Buffer {
  const out: Buffer[] = [];
  for (let block = 0; out.length * 32 < length; block++) {
    out.push(createHash('sha256').update(`${seed}/${index}/${block}`).digest());
  }
  return Buffer.concat(out).subarray(0, length);
}

/** A one-file ustar archive, so layers are real (if tiny) filesystem changesets. */
function tarWithFile(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const field = (offset: number, value: string) => header.write(value, offset, 'ascii');
  const octal = (value: number, width: number) => value.toString(8).padStart(width - 1, '0');
  field(0, name);
  field(100, octal(0o644, 8));
  field(108, octal(0, 8));
  field(116, octal(0, 8));
  field(124, octal(content.length, 12));
  field(136, octal(0, 12));
  field(148, '        ');
  field(156, '0');
  field(257, 'ustar\u000000');
  const checksum = header.reduce((sum, byte) => sum + byte, 0);
  field(148, `${octal(checksum, 7)}\u0000`);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}

/** A small single-platform image; the same seed always gives the same digest. */
export function buildImage(opts: { seed?: string; platform?: Platform; layers?: number; mediaType?: 'oci' | 'docker' } = {}): BuiltManifest {
  const seed = opts.seed ?? 'image';
  const platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
  const docker = opts.mediaType === 'docker';
  const layers = Array.from({ length: opts.layers ?? 1 }, (_, i) => {
    // Per-platform content, as real multi-arch images share no layers.
    const tar = tarWithFile(`layer-${i}.bin`, seededBytes(`${seed}/${platform.os}/${platform.architecture}`, i, 64));
    return { diffId: sha256Digest(tar), bytes: gzipSync(tar) };
  });
  const config = {
    architecture: platform.architecture,
    created: '2024-01-01T00:00:00Z',
    os: platform.os,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    config: { Env: ['PATH=/usr/local/bin:/usr/bin:/bin'], Labels: { 'dev.sigwatch.test.seed': seed } },
  };
  const manifest = buildArtifactManifest({
    mediaType: docker ? MediaTypes.dockerManifest : MediaTypes.ociManifest,
    config: { mediaType: docker ? MediaTypes.dockerConfig : MediaTypes.ociConfig, bytes: Buffer.from(JSON.stringify(config)) },
    layers: layers.map((l) => ({ mediaType: docker ? MediaTypes.dockerLayerGzip : MediaTypes.ociLayerGzip, bytes: l.bytes })),
  });
  return { ...manifest, platform };
}

/** A multi-platform index (OCI) or manifest list (Docker) over already-built images. */
export function buildIndex(children: BuiltManifest[], opts: { mediaType?: 'oci' | 'docker' } = {}): BuiltManifest {
  const json: ManifestJson = {
    schemaVersion: 2,
    mediaType: opts.mediaType === 'docker' ? MediaTypes.dockerManifestList : MediaTypes.ociIndex,
    manifests: children.map((child) => {
      const descriptor: Descriptor = { mediaType: child.mediaType, size: child.bytes.length, digest: child.digest };
      if (child.platform) descriptor.platform = child.platform;
      return descriptor;
    }),
  };
  return { ...finish(json, []), children };
}
