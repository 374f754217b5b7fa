import { constants } from 'node:fs';
import { lstat, open, readdir, realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
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
  /** The layout folder with every symbolic link resolved: what files must stay inside. */
  private realRoot: Promise<string> | undefined;

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
    const bytes = await this.readFile(INDEX_FILE, MAX_INDEX_BYTES);
    if (bytes === undefined) throw new SigwatchError('LAYOUT_INVALID', `${this.location}: no index.json (not an OCI image layout)`);
    const text = bytes.toString('utf8');
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

  /** `blobs/<alg>/<hex>`, relative to the layout. */
  private blobPath(digest: string): string {
    if (!isDigest(digest)) throw new SigwatchError('LAYOUT_INVALID', `${this.location}: unsupported digest "${digest}"`);
    const [alg, hex] = digest.split(':') as [string, string];
    return join('blobs', alg, hex);
  }

  private async blobSize(digest: string): Promise<number | undefined> {
    return (await this.inspect(this.blobPath(digest)))?.size;
  }

  private async readBlob(digest: string, maxBytes: number): Promise<Buffer | undefined> {
    const bytes = await this.readFile(this.blobPath(digest), maxBytes);
    if (bytes === undefined) return undefined;
    assertDigest(bytes, digest, `${this.location}@${digest}`);
    return bytes;
  }

  /**
   * Where a file of the layout really is, and its size, or undefined when it
   * does not exist. Only a regular file inside the layout folder is one: a
   * symbolic link may point elsewhere in the layout (some tools share blobs so),
   * never out of it (`/dev/zero`, another team's files); a FIFO, device, socket
   * or folder is refused, as nothing in a layout is one.
   */
  private async inspect(file: string): Promise<{ real: string; size: number } | undefined> {
    let real: string;
    try {
      real = await realpath(join(this.root, file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw this.unreadable(file, err);
    }
    const root = await this.resolvedRoot();
    const inside = relative(root, real);
    if (inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
      throw new SigwatchError('LAYOUT_INVALID', `${this.location}: ${file} leads through a symbolic link to ${real}, outside the layout`);
    }
    const st = await lstat(real).catch((err: unknown) => {
      throw this.unreadable(file, err);
    });
    if (!st.isFile()) throw new SigwatchError('LAYOUT_INVALID', `${this.location}: ${file} is ${kindOf(st)}, not a regular file`);
    return { real, size: st.size };
  }

  /**
   * A file of the layout, at most `maxBytes`, or undefined when it does not
   * exist. The type and size are checked again on the opened handle (fstat)
   * before a byte is read, and the file is opened without blocking and without
   * following a link, so a FIFO put there after the check cannot hang the read
   * and a file grown since cannot be read past the cap.
   */
  private async readFile(file: string, maxBytes: number): Promise<Buffer | undefined> {
    const found = await this.inspect(file);
    if (!found) return undefined;
    const tooLarge = (size: number | string) =>
      new SigwatchError('TOO_LARGE', `${this.location}: ${file}: ${size} bytes exceeds the ${maxBytes}-byte limit (not read)`);
    if (found.size > maxBytes) throw tooLarge(found.size);
    let handle;
    try {
      handle = await open(found.real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    } catch (err) {
      throw this.unreadable(file, err);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new SigwatchError('LAYOUT_INVALID', `${this.location}: ${file} is ${kindOf(st)}, not a regular file`);
      if (st.size > maxBytes) throw tooLarge(st.size);
      // One byte more than the size says: a file still growing is caught, not read on.
      const buffer = Buffer.alloc(st.size + 1);
      let length = 0;
      while (length < buffer.length) {
        const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
        if (bytesRead === 0) break;
        length += bytesRead;
      }
      if (length > st.size) throw tooLarge(`more than ${st.size}`);
      return buffer.subarray(0, length);
    } catch (err) {
      if (err instanceof SigwatchError) throw err;
      throw this.unreadable(file, err);
    } finally {
      await handle.close();
    }
  }

  private resolvedRoot(): Promise<string> {
    this.realRoot ??= realpath(this.root).catch((err: unknown) => {
      throw this.unreadable('.', err);
    });
    return this.realRoot;
  }

  private unreadable(file: string, err: unknown): SigwatchError {
    const code = (err as NodeJS.ErrnoException).code;
    return new SigwatchError('LAYOUT_INVALID', `${this.location}: ${file} cannot be read${code ? ` (${code})` : ''}`, { cause: err });
  }
}

const INDEX_FILE = 'index.json';
/** index.json lists descriptors only: a manifest's cap is ample. */
const MAX_INDEX_BYTES = MAX_MANIFEST_BYTES;

function kindOf(st: {
  isDirectory(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSymbolicLink(): boolean;
}): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a file';
}
