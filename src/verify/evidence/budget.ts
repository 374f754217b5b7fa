import { isUnavailable, SigwatchError } from '../../errors.ts';
import { mapLimit } from '../../map-limit.ts';
import { sha256Digest } from '../../registry/digest.ts';
import type { Descriptor, Manifest, Repository } from '../../registry/types.ts';

/**
 * What one verification may read as evidence, all kinds and sources
 * together: pushed content is the attacker's, and without a bound a few
 * hundred referrers or `.sig` layers naming one large blob would exhaust the
 * function's memory and lose every record of its batch. Bytes are counted
 * per use (a blob named twice is processed twice), so the bound holds on
 * what is parsed and kept, not only on what crosses the network; identical
 * blobs are fetched once and shared, and a blob sigwatch already holds
 * (`offer`) is not fetched at all.
 */

export interface EvidenceLimits {
  /** Manifest, blob and referrer-list bytes, all uses counted. */
  bytes: number;
  /** Manifest, blob and referrer-list reads. */
  reads: number;
}

/** 8 layers at the per-layer cap; real cosign evidence is a few kilobytes. cosign itself allows 1000 layers in a `.sig` manifest. */
export const DEFAULT_EVIDENCE_LIMITS: EvidenceLimits = { bytes: 32 * 1024 * 1024, reads: 2500 };

export class EvidenceBudget {
  readonly #limits: EvidenceLimits;
  #bytes = 0;
  #reads = 0;
  /** Blobs by digest: one fetch (and one buffer in memory) however many layers name it. */
  readonly #blobs = new Map<string, Promise<Buffer>>();

  constructor(limits: EvidenceLimits = DEFAULT_EVIDENCE_LIMITS) {
    this.#limits = limits;
  }

  /**
   * Bytes a layer may hold that sigwatch can write itself (the payload
   * cosign signs for the image): a read of their digest is answered without
   * a fetch. A blob is named by its sha256, so bytes that hash to a layer's
   * digest are that layer, whoever would have sent them; the read is still
   * charged, and still checked against the layer's size.
   */
  offer(bytes: Buffer): void {
    this.#blobs.set(sha256Digest(bytes), Promise.resolve(bytes));
  }

  /** `repo` whose reads count against this budget; what it fetched is the same for every repository of the verification. */
  wrap(repo: Repository): Repository {
    return {
      location: repo.location,
      resolve: (reference) =>
        this.#read(
          `resolving ${reference} in ${repo.location}`,
          () => repo.resolve(reference),
          () => 0,
        ),
      resolveTag: (tag) =>
        this.#read(
          `the tag ${tag} of ${repo.location}`,
          () => repo.resolveTag(tag),
          () => 0,
        ),
      getManifest: (reference) =>
        this.#read(
          `the manifest ${reference} of ${repo.location}`,
          () => repo.getManifest(reference),
          (m: Manifest | undefined) => m?.bytes.length ?? 0,
        ),
      referrers: (digest, artifactType) =>
        this.#read(
          `the referrers of ${digest} in ${repo.location}`,
          () => repo.referrers(digest, artifactType),
          (list) => list.length * 256,
        ),
      getBlob: async (descriptor: Descriptor, maxBytes: number) => {
        const what = `the blob ${descriptor.digest} of ${repo.location}`;
        // Charged before the fetch, at its declared size: an over-budget blob is never read.
        this.#charge(what, Math.max(0, Math.min(descriptor.size, maxBytes)));
        let blob = this.#blobs.get(descriptor.digest);
        if (!blob) {
          blob = repo.getBlob(descriptor, maxBytes);
          // A failed fetch is not shared: another layer may name the digest with a size that fits.
          blob.catch(() => this.#blobs.delete(descriptor.digest));
          this.#blobs.set(descriptor.digest, blob);
        }
        const bytes = await blob;
        // Shared by digest, so checked against each layer's own size, as its fetch would be (and cosign's is).
        if (bytes.length !== descriptor.size) {
          throw new SigwatchError('DIGEST_MISMATCH', `${what}: blob is ${bytes.length} bytes, descriptor says ${descriptor.size}`);
        }
        return bytes;
      },
    };
  }

  async #read<T>(what: string, read: () => Promise<T>, size: (value: T) => number): Promise<T> {
    this.#charge(what, 0);
    const value = await read();
    // A manifest's size is known only once read: checked at once, as reads run concurrently and the next charge may come late.
    this.#bytes += size(value);
    this.#check(what);
    return value;
  }

  #charge(what: string, bytes: number): void {
    this.#reads++;
    this.#bytes += bytes;
    this.#check(what);
  }

  #check(what: string): void {
    if (this.#reads > this.#limits.reads || this.#bytes > this.#limits.bytes) {
      throw new SigwatchError(
        'EVIDENCE_BUDGET',
        `${what}: the image's evidence is over the verification's budget of ${mib(this.#limits.bytes)} and ${this.#limits.reads} reads (${mib(this.#bytes)}, ${this.#reads} reads so far): pushed content sigwatch will not process`,
      );
    }
  }
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1)} MiB`;
}

/**
 * Errors that end an evidence read instead of being noted against one layer
 * or referrer: a registry that cannot be reached or refuses sigwatch (the
 * others would fail alike), and a spent budget (reading on is what it stops).
 */
export function endsEvidenceRead(err: unknown): boolean {
  return isUnavailable(err) || (err instanceof SigwatchError && (err.code === 'REGISTRY_AUTH' || err.code === 'EVIDENCE_BUDGET'));
}

/**
 * Evidence reads under way at once for one lookup (the layers of a `.sig` or
 * `.att` manifest, an image's bundle referrers): a hundred of them cost a few
 * round-trip times, not a hundred, while one image never holds more than a
 * few of its registry's connections.
 */
export const EVIDENCE_READ_CONCURRENCY = 8;

/**
 * `read` over each item, EVIDENCE_READ_CONCURRENCY at a time, the results in
 * the items' order (so reasons built from them do not depend on which
 * response came first). An error that ends the read (endsEvidenceRead) stops
 * the items not yet started, and is thrown once those under way have settled.
 */
export async function readEach<T, R>(items: readonly T[], read: (item: T, index: number) => Promise<R>): Promise<R[]> {
  let ended = false;
  return mapLimit(items, EVIDENCE_READ_CONCURRENCY, async (item, i) => {
    // Never a result: mapLimit throws the error that set `ended` once every item has settled.
    if (ended) return undefined as R;
    try {
      return await read(item, i);
    } catch (err) {
      if (endsEvidenceRead(err)) ended = true;
      throw err;
    }
  });
}
