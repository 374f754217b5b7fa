import { SigwatchError } from '../errors.ts';
import { expectOk, type HttpResponse } from './http.ts';
import { parseManifest } from './manifest.ts';
import { isObject } from '../json.ts';
import { isDigest } from './reference.ts';
import { MAX_MANIFEST_BYTES, MEDIA_TYPES, type Descriptor, type Manifest } from './types.ts';

/**
 * Referrers: the manifests whose `subject` names an image (cosign v3 bundles,
 * attestations, SBOMs). OCI 1.1 registries list them at
 * `/v2/<name>/referrers/<digest>`; older ones (docker-registry 2.x among them)
 * hold the same list as an image index under the referrers tag `sha256-<hex>`,
 * which the pushing client (cosign, oras, crane) keeps up to date.
 */

/** Pages of one referrers listing we follow before calling the answer hostile. */
const MAX_PAGES = 16;

/** `sha256:abc…` → `sha256-abc…`: the referrers tag schema's tag for a subject. */
export function referrersTag(digest: string): string {
  return digest.replace(':', '-');
}

/** The descriptors an index lists, the index being a referrers answer or the referrers tag. */
export function referrersOf(index: Manifest, where: string): Descriptor[] {
  if (!('manifests' in index.json)) throw new SigwatchError('REGISTRY_PROTOCOL', `${where}: is not an image index`);
  return index.json.manifests;
}

/**
 * How the referrers API describes a referrer: its own `artifactType`, else its
 * config's media type, and its annotations.
 */
export function referrerDescriptor(m: Manifest): Descriptor {
  const d: Descriptor = { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
  const artifactType = m.json.artifactType ?? ('config' in m.json ? m.json.config.mediaType : undefined);
  if (artifactType) d.artifactType = artifactType;
  if (m.json.annotations) d.annotations = m.json.annotations;
  return d;
}

/**
 * Filtering is optional for registries and absent from the tag schema, so it is
 * always done here too, as go-containerregistry does: a server's
 * `OCI-Filters-Applied` then only means the answer was already small.
 */
export function withArtifactType(descriptors: Descriptor[], artifactType: string | undefined): Descriptor[] {
  return artifactType === undefined ? descriptors : descriptors.filter((d) => d.artifactType === artifactType);
}

/** A referrers subject must be a digest we can name a tag after; refuse before any round trip. */
export function checkSubject(digest: string, location: string): void {
  if (!isDigest(digest)) throw new SigwatchError('REFERENCE_INVALID', `${location}: referrers are listed by sha256 digest, got "${digest}"`);
}

/** What a registry lookup needs from the repository it runs in. */
export interface ReferrersEndpoint {
  readonly location: string;
  /** `https://host/v2/<name>/`: Link headers must stay below it. */
  readonly baseUrl: string;
  /** An authenticated GET of `baseUrl` + `path` (path may carry a query). */
  get(path: string, accept: string, maxBytes: number): Promise<HttpResponse>;
  getManifest(reference: string): Promise<Manifest | undefined>;
}

/** Per registry memory of an absent referrers API, so later lookups go straight to the tag. */
export interface ReferrersApiMemory {
  /** False once the registry answered like one without the API. */
  mayHaveApi(): boolean;
  markNoApi(): void;
}

/**
 * The referrers API, falling back to the referrers tag when the registry has no
 * API; a registry found without one is remembered, so the fallback costs one
 * round trip (the tag) instead of two from then on.
 */
export async function registryReferrers(
  endpoint: ReferrersEndpoint,
  digest: string,
  artifactType: string | undefined,
  api: ReferrersApiMemory,
): Promise<Descriptor[]> {
  checkSubject(digest, endpoint.location);
  if (api.mayHaveApi()) {
    const listed = await fromApi(endpoint, digest, artifactType);
    if (listed !== 'no-api') return withArtifactType(listed, artifactType);
    api.markNoApi();
  }
  const tag = referrersTag(digest);
  const index = await endpoint.getManifest(tag);
  // No tag: nothing refers to the image yet.
  if (!index) return [];
  return withArtifactType(referrersOf(index, `${endpoint.location}:${tag}`), artifactType);
}

async function fromApi(endpoint: ReferrersEndpoint, digest: string, artifactType: string | undefined): Promise<Descriptor[] | 'no-api'> {
  const where = `${endpoint.location}: referrers of ${digest}`;
  let path = `referrers/${digest}${artifactType === undefined ? '' : `?artifactType=${encodeURIComponent(artifactType)}`}`;
  const out: Descriptor[] = [];
  for (let page = 0; page < MAX_PAGES; page++) {
    const res = await endpoint.get(path, MEDIA_TYPES.ociIndex, MAX_MANIFEST_BYTES);
    if (page === 0) {
      // A registry with the API answers a missing repository with NAME_UNKNOWN: no referrers, and no
      // reason to think the API absent (remembering that would hide referrers in every other repository).
      if (res.status === 404 && errorCodes(res).includes('NAME_UNKNOWN')) return [];
      if (!answersApi(res)) return 'no-api';
    }
    expectOk(res, where);
    out.push(...referrersOf(parseManifest(res.body, { mediaType: MEDIA_TYPES.ociIndex, where }), where));
    const next = nextPage(res, endpoint.baseUrl, where);
    if (next === undefined) return out;
    path = next;
  }
  throw new SigwatchError('REGISTRY_PROTOCOL', `${where}: more than ${MAX_PAGES} pages`);
}

/**
 * As go-containerregistry decides: 404, 400 and 406 are registries without the
 * route, and so is a 200 that is not an image index (a catch-all page).
 */
function answersApi(res: HttpResponse): boolean {
  if (res.status === 404 || res.status === 400 || res.status === 406) return false;
  if (res.status !== 200) return true;
  return (res.headers.get('content-type') ?? '').split(';')[0]!.trim() === MEDIA_TYPES.ociIndex;
}

/** The `code`s of a distribution error body, or none. */
function errorCodes(res: HttpResponse): string[] {
  try {
    const body: unknown = JSON.parse(res.body.toString('utf8'));
    if (!isObject(body) || !Array.isArray(body.errors)) return [];
    return body.errors.flatMap((e) => (isObject(e) && typeof e.code === 'string' ? [e.code] : []));
  } catch {
    return [];
  }
}

/**
 * The path of the `rel="next"` page, relative to the repository. A Link elsewhere
 * is refused: it would take the repository's credentials along.
 */
function nextPage(res: HttpResponse, baseUrl: string, where: string): string | undefined {
  const link = res.headers.get('link');
  if (!link) return undefined;
  const next = /<([^>]*)>\s*;[^,]*\brel="?next"?/i.exec(link);
  if (!next) return undefined;
  const url = new URL(next[1]!, res.url).toString();
  if (!url.startsWith(`${baseUrl}referrers/`)) {
    throw new SigwatchError('REGISTRY_PROTOCOL', `${where}: next page link leaves the repository's referrers`);
  }
  return url.slice(baseUrl.length);
}
