import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SigwatchError } from '../errors.ts';
import { assertDigest } from './digest.ts';
import { parseManifest } from './manifest.ts';
import { isObject } from '../json.ts';
import { isDigest } from './reference.ts';
import { checkSubject, referrerDescriptor, referrersOf, referrersTag, withArtifactType } from './referrers.ts';
import { MAX_MANIFEST_BYTES, MEDIA_TYPES, type Descriptor, type ImageIndex, type Manifest, type Repository } from './types.ts';

const MANIFEST_TYPES = new Set<string>(Object.values(MEDIA_TYPES));

const REF_NAME = 'org.opencontainers.image.ref.name';

/**
 * `cosign save` names its entries by kind, not by tag (cosign
 * `pkg/oci/layout`): the image, its `.sig` image and its `.att` image. It
 * writes each referrer as a layout of its own into the same folder, so later
 * writes replace index.json and referrers remain only in `blobs/`; cosign's
 * own verifier finds them by scanning the blobs for manifests whose subject
 * is the image (`getLocalBundleDescriptors`), and so does this reader.
 */
const COSIGN_KIND = 'kind';
const COSIGN_KINDS = {
  image: 'dev.cosignproject.cosign/image',
  index: 'dev.cosignproject.cosign/imageIndex',
  sigs: 'dev.cosignproject.cosign/sigs',
  atts: 'dev.cosignproject.cosign/atts',
} as const;
/** Blobs looked at when scanning a `cosign save` layout for referrers: far more than one image's. */
const MAX_SCANNED_BLOBS = 10_000;

/**
 * An OCI image layout folder (what `cosign save`, oras and skopeo write) read
 * as a repository: tags are the `org.opencontainers.image.ref.name`
 * annotations in `index.json`, content lives in `blobs/<alg>/<hex>`.
 */
export class OciLayout implements Repository {
  readonly location: string;
  private readonly root: string;
  private index: Promise<ImageIndex> | undefined;

  constructor(path: string) {
    this.root = resolve(path);
    this.location = `oci:${path}`;
  }

  async resolve(reference: string): Promise<string | undefined> {
    // Local reads are cheap: confirm a digest is really in the layout.
    if (isDigest(reference)) return (await this.findDescriptor(reference))?.digest;
    return (await this.resolveTag(reference))?.digest;
  }

  async resolveTag(tag: string): Promise<Descriptor | undefined> {
    const index = await this.loadIndex();
    // The last entry wins, as with a registry tag that was pushed again.
    const tagged = index.manifests.findLast((d) => d.annotations?.[REF_NAME] === tag);
    return tagged ?? this.cosignSaveEntry(index, tag);
  }

  /**
   * In a `cosign save` layout, the image's `sha256-<hex>.sig` / `.att` tag is
   * the entry of that kind, when the layout's image has that digest.
   */
  private cosignSaveEntry(index: ImageIndex, tag: string): Descriptor | undefined {
    const m = /^(sha256)-([0-9a-f]{64})\.(sig|att)$/.exec(tag);
    if (!m) return undefined;
    const digest = `${m[1]}:${m[2]}`;
    const kindOf = (d: Descriptor) => d.annotations?.[COSIGN_KIND];
    const isImage = index.manifests.some((d) => d.digest === digest && (kindOf(d) === COSIGN_KINDS.image || kindOf(d) === COSIGN_KINDS.index));
    if (!isImage) return undefined;
    return index.manifests.findLast((d) => kindOf(d) === (m[3] === 'sig' ? COSIGN_KINDS.sigs : COSIGN_KINDS.atts));
  }

  async getManifest(reference: string): Promise<Manifest | undefined> {
    const descriptor = isDigest(reference) ? await this.findDescriptor(reference) : await this.resolveTag(reference);
    if (!descriptor) return undefined;
    const bytes = await this.readBlob(descriptor.digest, MAX_MANIFEST_BYTES);
    if (bytes === undefined) return undefined;
    return parseManifest(bytes, { digest: descriptor.digest, mediaType: descriptor.mediaType, where: `${this.location}@${descriptor.digest}` });
  }

  async getBlob(descriptor: Descriptor, maxBytes: number): Promise<Buffer> {
    const where = `${this.location}@${descriptor.digest}`;
    if (descriptor.size > maxBytes) {
      throw new SigwatchError('TOO_LARGE', `${where}: blob of ${descriptor.size} bytes exceeds the ${maxBytes}-byte limit`);
    }
    const bytes = await this.readBlob(descriptor.digest, maxBytes);
    if (bytes === undefined) throw new SigwatchError('REGISTRY_NOT_FOUND', `${where}: blob not found in the layout`);
    if (bytes.length !== descriptor.size) {
      throw new SigwatchError('DIGEST_MISMATCH', `${where}: blob is ${bytes.length} bytes, descriptor says ${descriptor.size}`);
    }
    return bytes;
  }

  /**
   * Referrers as a registry would list them: the manifests in index.json whose
   * `subject` is the digest (what `cosign save` and oras write), and those
   * listed under the referrers tag (a layout copied from a registry without
   * the API). Local reads are cheap, so every listed manifest is looked at.
   */
  async referrers(digest: string, artifactType?: string): Promise<Descriptor[]> {
    checkSubject(digest, this.location);
    const found = new Map<string, Descriptor>();
    for (const entry of (await this.loadIndex()).manifests) {
      if (!MANIFEST_TYPES.has(entry.mediaType) || found.has(entry.digest)) continue;
      const m = await this.getManifest(entry.digest);
      if (m?.json.subject?.digest === digest) found.set(m.digest, referrerDescriptor(m));
    }
    const tag = referrersTag(digest);
    const tagged = await this.getManifest(tag);
    if (tagged) {
      for (const d of referrersOf(tagged, `${this.location}:${tag}`)) if (!found.has(d.digest)) found.set(d.digest, d);
    }
    if (await this.isCosignSaveImage(digest)) {
      for (const m of await this.manifestsInBlobs()) if (m.json.subject?.digest === digest && !found.has(m.digest)) found.set(m.digest, referrerDescriptor(m));
    }
    return withArtifactType([...found.values()], artifactType);
  }

  private async isCosignSaveImage(digest: string): Promise<boolean> {
    const kinds: string[] = [COSIGN_KINDS.image, COSIGN_KINDS.index];
    return (await this.loadIndex()).manifests.some((d) => d.digest === digest && kinds.includes(d.annotations?.[COSIGN_KIND] ?? ''));
  }

  /** Every manifest among the layout's sha256 blobs (small enough to be one, and parsing as one), in name order. */
  private async manifestsInBlobs(): Promise<Manifest[]> {
    let names: string[];
    try {
      names = (await readdir(join(this.root, 'blobs', 'sha256'))).filter((n) => /^[0-9a-f]{64}$/.test(n)).sort();
    } catch {
      return [];
    }
    if (names.length > MAX_SCANNED_BLOBS) {
      throw new SigwatchError('TOO_LARGE', `${this.location}: ${names.length} blobs, more than the ${MAX_SCANNED_BLOBS} scanned for referrers`);
    }
    const out: Manifest[] = [];
    for (const hex of names) {
      const digest = `sha256:${hex}`;
      const size = await this.blobSize(digest);
      if (size === undefined || size > MAX_MANIFEST_BYTES) continue;
      const bytes = await this.readBlob(digest, MAX_MANIFEST_BYTES);
      if (!bytes || bytes[0] !== 0x7b) continue;
      try {
        out.push(parseManifest(bytes, { digest, where: `${this.location}@${digest}` }));
      } catch {
        // A config or a layer that happens to be JSON: not a manifest.
      }
    }
    return out;
  }

  /**
   * A digest reference is valid for any manifest stored in the layout, listed in
   * index.json or not (children of an index are only in blobs/).
   */
  private async findDescriptor(digest: string): Promise<Descriptor | undefined> {
    const listed = (await this.loadIndex()).manifests.find((d) => d.digest === digest);
    if (listed) return listed;
    const size = await this.blobSize(digest);
    return size === undefined ? undefined : { mediaType: '', digest, size };
  }

  private loadIndex(): Promise<ImageIndex> {
    this.index ??= this.readIndex();
    return this.index;
  }

  private async readIndex(): Promise<ImageIndex> {
    let text: string;
    try {
      text = await readFile(join(this.root, 'index.json'), 'utf8');
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no index.json (not an OCI image layout)' : (err as Error).message;
      throw new SigwatchError('LAYOUT_INVALID', `${this.location}: ${why}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new SigwatchError('LAYOUT_INVALID', `${this.location}: index.json is not valid JSON`);
    }
    if (!isObject(json) || !Array.isArray(json.manifests)) {
      throw new SigwatchError('LAYOUT_INVALID', `${this.location}: index.json has no manifests list`);
    }
    // Reuse the manifest checks for the descriptors in it.
    return parseManifest(Buffer.from(text), { where: `${this.location}/index.json` }).json as ImageIndex;
  }

  private blobPath(digest: string): string {
    if (!isDigest(digest)) throw new SigwatchError('LAYOUT_INVALID', `${this.location}: unsupported digest "${digest}"`);
    const [alg, hex] = digest.split(':') as [string, string];
    return join(this.root, 'blobs', alg, hex);
  }

  private async blobSize(digest: string): Promise<number | undefined> {
    try {
      return (await stat(this.blobPath(digest))).size;
    } catch {
      return undefined;
    }
  }

  private async readBlob(digest: string, maxBytes: number): Promise<Buffer | undefined> {
    const path = this.blobPath(digest);
    const size = await this.blobSize(digest);
    if (size === undefined) return undefined;
    if (size > maxBytes) {
      throw new SigwatchError('TOO_LARGE', `${this.location}@${digest}: ${size} bytes exceeds the ${maxBytes}-byte limit`);
    }
    const bytes = await readFile(path);
    assertDigest(bytes, digest, `${this.location}@${digest}`);
    return bytes;
  }
}
