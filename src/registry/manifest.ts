import { SigwatchError } from '../errors.ts';
import { assertDigest, sha256Digest } from './digest.ts';
import { MEDIA_TYPES, type Descriptor, type ImageIndex, type ImageManifest, type Manifest } from './types.ts';
import { isObject } from '../json.ts';

const MANIFEST_TYPES = new Set<string>(Object.values(MEDIA_TYPES));
const INDEX_TYPES = new Set<string>([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList]);
// The OCI digest grammar (algorithm ":" encoded): descriptors name content in
// URLs and paths, so `sha256:../../x` must never get that far.
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/**
 * Parses manifest bytes, checking them against the digest that named them (or
 * computing it for a tag) and the shape the signature step relies on.
 */
export function parseManifest(bytes: Buffer, opts: { digest?: string; mediaType?: string; where: string }): Manifest {
  const digest = opts.digest ?? sha256Digest(bytes);
  if (opts.digest) assertDigest(bytes, opts.digest, opts.where);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new SigwatchError('REGISTRY_PROTOCOL', `${opts.where}: manifest is not valid JSON`);
  }
  if (!isObject(json)) throw new SigwatchError('REGISTRY_PROTOCOL', `${opts.where}: manifest is not a JSON object`);
  // The body's own mediaType wins: a registry's Content-Type is advisory.
  const mediaType = typeof json.mediaType === 'string' ? json.mediaType : (opts.mediaType ?? '');
  // A body that names its own media type must have that shape: an "index"
  // with layers (or a manifest with children) would be read as the other kind.
  const own = typeof json.mediaType === 'string' ? json.mediaType : undefined;
  if (Array.isArray(json.manifests)) {
    if (own !== undefined && !INDEX_TYPES.has(own)) {
      throw new SigwatchError('REGISTRY_PROTOCOL', `${opts.where}: an index (it has manifests) with media type "${own}"`);
    }
    json.manifests.forEach((d, i) => checkDescriptor(d, `${opts.where}: manifests[${i}]`));
    return { digest, mediaType: mediaType || MEDIA_TYPES.ociIndex, bytes, json: json as unknown as ImageIndex };
  }
  if (!Array.isArray(json.layers) || !isObject(json.config)) {
    throw new SigwatchError('REGISTRY_PROTOCOL', `${opts.where}: manifest has neither layers and config nor manifests`);
  }
  if (own !== undefined && INDEX_TYPES.has(own)) {
    throw new SigwatchError('REGISTRY_PROTOCOL', `${opts.where}: an image manifest (it has layers and config) with media type "${own}"`);
  }
  checkDescriptor(json.config, `${opts.where}: config`);
  json.layers.forEach((d, i) => checkDescriptor(d, `${opts.where}: layers[${i}]`));
  if (mediaType && !MANIFEST_TYPES.has(mediaType)) {
    throw new SigwatchError('REGISTRY_PROTOCOL', `${opts.where}: unsupported manifest media type "${mediaType}"`);
  }
  return { digest, mediaType: mediaType || MEDIA_TYPES.ociManifest, bytes, json: json as unknown as ImageManifest };
}

function checkDescriptor(d: unknown, where: string): asserts d is Descriptor {
  if (!isObject(d) || typeof d.digest !== 'string' || typeof d.size !== 'number' || typeof d.mediaType !== 'string') {
    throw new SigwatchError('REGISTRY_PROTOCOL', `${where}: descriptor needs mediaType, digest and size`);
  }
  if (!DIGEST_GRAMMAR.test(d.digest)) {
    throw new SigwatchError('REGISTRY_PROTOCOL', `${where}: descriptor digest ${JSON.stringify(d.digest.slice(0, 80))} is not a digest`);
  }
  if (!Number.isSafeInteger(d.size) || d.size < 0) {
    throw new SigwatchError('REGISTRY_PROTOCOL', `${where}: descriptor size ${String(d.size)} is not a valid size`);
  }
  if (d.annotations !== undefined) {
    if (!isObject(d.annotations) || Object.values(d.annotations).some((v) => typeof v !== 'string')) {
      throw new SigwatchError('REGISTRY_PROTOCOL', `${where}: annotations must map strings to strings`);
    }
  }
}
