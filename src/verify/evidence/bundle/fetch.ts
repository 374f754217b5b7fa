import { endsEvidenceRead, readEach } from '../budget.ts';
import { isObject } from '../../../json.ts';
import type { Descriptor, Repository } from '../../../registry/types.ts';
import { VerificationError } from '../../errors.ts';
import { parseEvidenceJson } from '../strict-json.ts';
import { bundleShapeProblem } from './shape.ts';

/**
 * cosign v3 stores a signature as a sigstore bundle in an OCI artifact whose
 * `subject` is the image, found through the referrers API (or its tag-schema
 * fallback). Any bundle version is collected; which ones verify is decided later.
 */
const BUNDLE_MEDIA_TYPE_PREFIX = 'application/vnd.dev.sigstore.bundle';

export interface ReferrerBundle {
  /** Digest of the referrer manifest: names the signature in verdicts. */
  digest: string;
  /** The bundle document, not yet validated. */
  json: unknown;
  source: string;
}

export interface BundleLookup {
  bundles: ReferrerBundle[];
  problems: string[];
  /** Where they were looked for, for a reason that finds none: `the referrers of sha256:… in host/repo`. */
  searched?: string;
}

/**
 * Bundles read per image: far more than any image has signatures, few enough
 * that a registry listing thousands of referrers cannot make a verification
 * fetch thousands of manifests.
 */
export const MAX_BUNDLE_REFERRERS = 100;

export async function fetchReferrerBundles(repo: Repository, imageDigest: string, opts: { maxLayerBytes: number }): Promise<BundleLookup> {
  const listed = (await repo.referrers(imageDigest)).filter((d) => d.artifactType?.startsWith(BUNDLE_MEDIA_TYPE_PREFIX));
  // A digest listed twice is one manifest: fetched, verified and reported once.
  const all = [...new Map(listed.map((d) => [d.digest, d])).values()];
  const problems: string[] = [];
  // Each bundle costs two fetches and a verification: a registry listing thousands is read no further.
  const descriptors = all.slice(0, MAX_BUNDLE_REFERRERS);
  if (all.length > MAX_BUNDLE_REFERRERS)
    problems.push(`${repo.location}: ${all.length} sigstore bundle referrers; only the first ${MAX_BUNDLE_REFERRERS} were read`);
  // Manifests and their blobs fetched a few at a time, kept in the listing's order so that reasons are deterministic.
  const read = await readEach(descriptors, (d) => readReferrer(repo, d, imageDigest, opts.maxLayerBytes));
  const bundles: ReferrerBundle[] = [];
  for (const r of read) {
    if ('problem' in r) problems.push(r.problem);
    else bundles.push(r);
  }
  return { bundles, problems };
}

/** One referrer's bundle, or the problem that makes it none; an error that ends the read is thrown. */
async function readReferrer(repo: Repository, d: Descriptor, imageDigest: string, maxLayerBytes: number): Promise<ReferrerBundle | { problem: string }> {
  const source = `${repo.location}@${d.digest}`;
  try {
    const manifest = await repo.getManifest(d.digest);
    if (!manifest || !('layers' in manifest.json)) return { problem: `${source}: referrer is not an artifact manifest` };
    // The referrers list is the registry's word; the manifest's own subject is signed content.
    if (manifest.json.subject?.digest !== imageDigest)
      return { problem: `${source}: subject is ${manifest.json.subject?.digest ?? 'missing'}, not this image` };
    const layer = manifest.json.layers.find((l) => l.mediaType.startsWith(BUNDLE_MEDIA_TYPE_PREFIX));
    if (!layer) return { problem: `${source}: no sigstore bundle layer` };
    // Through the evidence budget, a blob named by several referrers is fetched once.
    const bytes = await repo.getBlob(layer, maxLayerBytes);
    let json: unknown;
    try {
      // sigstore-go reads bundles with protojson: a field twice is no bundle to cosign, nor here.
      json = parseEvidenceJson(bytes.toString('utf8'), 'bundle');
    } catch (err) {
      if (!(err instanceof VerificationError)) throw err;
      return { problem: `${source}: ${err.message}` };
    }
    if (!isObject(json)) return { problem: `${source}: bundle is not a JSON object` };
    const shape = bundleShapeProblem(json);
    if (shape) return { problem: `${source}: ${shape}` };
    return { digest: d.digest, json, source };
  } catch (err) {
    if (endsEvidenceRead(err)) throw err;
    return { problem: `${source}: ${(err as Error).message}` };
  }
}
