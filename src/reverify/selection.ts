import { minimatch } from 'minimatch';
import type { Association, ReverifyConfig } from '../accounts/types.ts';
import { globCoversName } from '../policy/glob.ts';
import type { ListedImage } from './ecr-listing.ts';

/**
 * Which repositories and images a run verifies (docs/reverify.md). Nothing
 * here fetches anything: it decides from the listing, the association, the
 * operator's `reverify:` settings and the policies' globs, so that an image
 * no policy could judge costs no registry request.
 */

const DEFAULT_SCOPE: ReverifyConfig = { untagged: 'skip' };

/** The association's repositories (exact names, prefixes ending in `/`), then the operator's include and exclude patterns. */
export function repositoryIncluded(repository: string, association: Association, scope: ReverifyConfig = DEFAULT_SCOPE): boolean {
  if (association.repositories && !association.repositories.some((r) => (r.endsWith('/') ? repository.startsWith(r) : repository === r))) return false;
  if (scope.include && !scope.include.some((p) => minimatch(repository, p))) return false;
  if (scope.exclude?.some((p) => minimatch(repository, p))) return false;
  return true;
}

/** cosign's tags for signatures, attestations and SBOMs of a digest: artifacts, not images. */
const COSIGN_TAG = /^sha256-[a-f0-9]{64}(?:\.[a-z]+)?$/;
const ARTIFACT_MEDIA_TYPE = /^application\/vnd\.dev\.(?:cosign|sigstore)\./;

export type ImageDecision = { keep: true; tags: string[] } | { keep: false; why: 'artifact' | 'untagged' | 'excluded-tags' | 'age' };

/**
 * Whether a listed image is re-verified, and the tags it is known by. Cosign
 * artifacts are never images to judge; an image neither pushed nor pulled for
 * `maxAgeDays` is skipped; tags matching `excludeTags` do not count, and an
 * image left without tags follows `untagged`.
 */
export function imageSelected(image: ListedImage, now: number, scope: ReverifyConfig = DEFAULT_SCOPE): ImageDecision {
  if (
    (image.artifactMediaType && ARTIFACT_MEDIA_TYPE.test(image.artifactMediaType)) ||
    (image.tags.length > 0 && image.tags.every((t) => COSIGN_TAG.test(t)))
  ) {
    return { keep: false, why: 'artifact' };
  }
  if (scope.maxAgeDays !== undefined) {
    const last = Math.max(image.pushedAt?.getTime() ?? 0, image.lastPulledAt?.getTime() ?? 0);
    // An image ECR gives no time for is kept: unknown age is not old age.
    if (last > 0 && now - last > scope.maxAgeDays * 86_400_000) return { keep: false, why: 'age' };
  }
  const tags = image.tags.filter((t) => !COSIGN_TAG.test(t) && !scope.excludeTags?.some((p) => minimatch(t, p)));
  if (tags.length === 0 && image.tags.length > 0) return { keep: false, why: 'excluded-tags' };
  if (tags.length === 0 && scope.untagged === 'skip') return { keep: false, why: 'untagged' };
  return { keep: true, tags };
}

/**
 * Whether any of the globs covers the image `host/repository@digest`, the
 * name the admission webhook (and verifyImage) matches policies against.
 */
export function globsMatchImage(globs: readonly string[], host: string, repository: string, digest: string): boolean {
  const name = `${host}/${repository}@${digest}`;
  return globs.some((g) => safeTest(g, name, true));
}

/**
 * Whether a glob could match some image of the repository, so that a
 * repository none could match is not even listed. Never wrongly false: a glob
 * that names digests (`@`) or ends in literal text (which could match the
 * end of a digest) is decided image by image instead. For a glob ending in
 * `*`, the digest part is filled with a hex character the glob does not
 * contain, so that only the glob's wildcards can cover it.
 */
export function globCouldMatchRepository(glob: string, host: string, repository: string): boolean {
  if (glob.includes('@') || !glob.endsWith('*')) return true;
  const filler = [...'0123456789abcdef'].find((c) => !glob.includes(c));
  if (filler === undefined) return true;
  return safeTest(glob, `${host}/${repository}@sha256:${filler.repeat(64)}`, true);
}

/** An invalid glob matches everything here: the policy set's own validation refuses it, and verification then fails closed. */
function safeTest(glob: string, name: string, onError: boolean): boolean {
  try {
    return globCoversName(glob, name);
  } catch {
    return onError;
  }
}
