import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SigwatchError } from '../errors.ts';
import { assertDigest } from './digest.ts';
import { isObject, parseManifest } from './manifest.ts';
import { isDigest } from './reference.ts';
import { checkSubject, referrerDescriptor, referrersOf, referrersTag, withArtifactType } from './referrers.ts';
import { MAX_MANIFEST_BYTES, MEDIA_TYPES, type Descriptor, type ImageIndex, type Manifest, type Repository } from './types.ts';

const MANIFEST_TYPES = new Set<string>(Object.values(MEDIA_TYPES));

const REF_NAME = 'org.opencontainers.image.ref.name';

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
    return index.manifests.findLast((d) => d.annotations?.[REF_NAME] === tag);
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
    return withArtifactType([...found.values()], artifactType);
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
