import { endsEvidenceRead } from '../budget.ts';
import { isObject } from '../../../json.ts';
import type { Repository } from '../../../registry/types.ts';
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
  const all = (await repo.referrers(imageDigest)).filter((d) => d.artifactType?.startsWith(BUNDLE_MEDIA_TYPE_PREFIX));
  const bundles: ReferrerBundle[] = [];
  const problems: string[] = [];
  // Each bundle costs two fetches and a verification: a registry listing thousands is read no further.
  const descriptors = all.slice(0, MAX_BUNDLE_REFERRERS);
  if (all.length > MAX_BUNDLE_REFERRERS)
    problems.push(`${repo.location}: ${all.length} sigstore bundle referrers; only the first ${MAX_BUNDLE_REFERRERS} were read`);
  for (const d of descriptors) {
    const source = `${repo.location}@${d.digest}`;
    try {
      const manifest = await repo.getManifest(d.digest);
      if (!manifest || !('layers' in manifest.json)) {
        problems.push(`${source}: referrer is not an artifact manifest`);
        continue;
      }
      // The referrers list is the registry's word; the manifest's own subject is signed content.
      if (manifest.json.subject?.digest !== imageDigest) {
        problems.push(`${source}: subject is ${manifest.json.subject?.digest ?? 'missing'}, not this image`);
        continue;
      }
      const layer = manifest.json.layers.find((l) => l.mediaType.startsWith(BUNDLE_MEDIA_TYPE_PREFIX));
      if (!layer) {
        problems.push(`${source}: no sigstore bundle layer`);
        continue;
      }
      const bytes = await repo.getBlob(layer, opts.maxLayerBytes);
      let json: unknown;
      try {
        // sigstore-go reads bundles with protojson: a field twice is no bundle to cosign, nor here.
        json = parseEvidenceJson(bytes.toString('utf8'), 'bundle');
      } catch (err) {
        if (!(err instanceof VerificationError)) throw err;
        problems.push(`${source}: ${err.message}`);
        continue;
      }
      if (!isObject(json)) {
        problems.push(`${source}: bundle is not a JSON object`);
        continue;
      }
      const shape = bundleShapeProblem(json);
      if (shape) {
        problems.push(`${source}: ${shape}`);
        continue;
      }
      bundles.push({ digest: d.digest, json, source });
    } catch (err) {
      if (endsEvidenceRead(err)) throw err;
      problems.push(`${source}: ${(err as Error).message}`);
    }
  }
  return { bundles, problems };
}
