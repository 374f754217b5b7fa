import { isDigest } from '../registry/reference.ts';
import { accepted, ignored, rejected, type ParsedEvent, type PushAction, type PushArrival, type PushEvent, type PushEventKind } from './types.ts';
import { ACCOUNT_ID_RE, ecrHost, REGION_RE, REPOSITORY_RE } from '../registry/providers/ecr-names.ts';
import { isObject } from '../json.ts';

/**
 * Reads one EventBridge event from Amazon ECR into a PushEvent: every way an
 * image arrives in a registry, "ECR Image Action" (a push), "ECR Referrer
 * Action", "ECR Pull Through Cache Action" (an image cached from upstream) and
 * "ECR Replication Action" (an image replicated into this account and region;
 * the event's account and region are the destination's). Other ECR events
 * (scans, scan configuration changes) are ignored, never failed. The event reaches us through a
 * queue that anything with SendMessage can write to, so every field is
 * checked before it can become part of a registry URL, a log line or a
 * verdict; the pipeline still re-resolves the digest from the registry.
 */

const DETAIL_TYPES = new Map<string, PushEventKind>([
  ['ECR Image Action', 'image'],
  ['ECR Referrer Action', 'referrer'],
  ['ECR Pull Through Cache Action', 'image'],
  ['ECR Replication Action', 'image'],
]);
/** How the image arrived, for the detail-types that are not a push. */
const ARRIVALS = new Map<string, PushArrival>([
  ['ECR Pull Through Cache Action', 'pull-through-cache'],
  ['ECR Replication Action', 'replication'],
]);
/**
 * ECR's other event types (EventBridge's list for aws.ecr): real events about
 * no new content, ignored with a log line rather than dead-lettered.
 */
const NO_VERDICT_TYPES = new Set(['ECR Image Scan', 'ECR Scan Resource Change', 'ECR Artifact Action', 'AWS API Call via CloudTrail']);

// Commercial (us-east-1), GovCloud (us-gov-west-1) and China (cn-north-1): the
// partitions whose registry host we know. ISO and sovereign-cloud regions
// (us-iso-east-1, eusc-de-east-1) use other domains and fail here rather than
// yield a registry that does not exist.
// EventBridge ids are UUIDs, but AWS's own samples use ids like "8c9gd6f7-…-EXAMPLE".
const EVENT_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;
// ECR's repositoryName constraint (API reference: length 2–256 and this pattern).
const REPOSITORY_MIN = 2;
const REPOSITORY_MAX = 256;
// OCI distribution spec tag grammar.
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
// RFC 6838 type/subtype, restricted-name characters, 127 each.
const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
// cosign's tag-based artifacts: sha256-<hex>.sig / .att / .sbom next to the image.
const COSIGN_TAG_RE = /^sha256-([a-f0-9]{64})\.(sig|att|sbom)$/;

/** How much of a bad string value a reason quotes: enough for a whole digest (71). */
const QUOTE_CHARS = 80;

export function parseEcrEvent(input: unknown): ParsedEvent {
  try {
    return readEvent(input);
  } catch (err) {
    if (err instanceof FieldError) return rejected(err.message);
    throw err;
  }
}

function readEvent(input: unknown): ParsedEvent {
  const event = object(input, 'event');
  const source = requiredString(event, 'source', 'source');
  if (source !== 'aws.ecr') fail('source', `expected "aws.ecr", got ${describeValue(source)}`);
  const detailType = requiredString(event, 'detail-type', 'detail-type');
  const kind = DETAIL_TYPES.get(detailType);
  if (kind === undefined) {
    if (NO_VERDICT_TYPES.has(detailType)) return ignored(`${detailType}: an ECR event about no new image, nothing to verify`);
    fail('detail-type', `unsupported detail-type ${describeValue(detailType)} (sigwatch reads ${[...DETAIL_TYPES.keys()].map((t) => `"${t}"`).join(', ')})`);
  }
  const arrival = ARRIVALS.get(detailType);
  const eventId = matching(event, 'id', 'id', EVENT_ID_RE, 'an EventBridge event id');
  const time = isoTime(requiredString(event, 'time', 'time'));
  const account = matching(event, 'account', 'account', ACCOUNT_ID_RE, 'a 12-digit AWS account id');
  const region = matching(event, 'region', 'region', REGION_RE, 'an AWS region such as us-east-1 or cn-north-1');

  const detail = object(own(event, 'detail'), 'detail');
  // A failed push or an archive/restore (UPDATE_STORAGE_CLASS) is a real ECR
  // event with no new content to verify: reported as ignored, not as an error,
  // and before the image fields, which a failed push may lack.
  // A pull-through cache event says how the sync went in `sync-status`, and has no action-type.
  const resultField = arrival === 'pull-through-cache' ? 'sync-status' : 'result';
  const result = requiredString(detail, resultField, `detail.${resultField}`);
  if (result !== 'SUCCESS') {
    return ignored(`${detailType} with detail.${resultField} ${describeValue(result)}: the action did not complete, nothing to verify`);
  }
  let action: PushAction = 'PUSH';
  if (arrival === undefined) {
    const type = requiredString(detail, 'action-type', 'detail.action-type');
    if (!isPushAction(type)) return ignored(`${detailType} with detail.action-type ${describeValue(type)}: only PUSH and DELETE are verified`);
    action = type;
  } else if (arrival === 'replication') {
    const type = requiredString(detail, 'action-type', 'detail.action-type');
    if (type !== 'REPLICATE') return ignored(`${detailType} with detail.action-type ${describeValue(type)}: only REPLICATE brings an image`);
  }

  const repository = repositoryName(requiredString(detail, 'repository-name', 'detail.repository-name'));
  const tag = optionalMatching(detail, 'image-tag', 'detail.image-tag', TAG_RE, 'an OCI tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})');
  // An image that arrived by cache or replication may be named by its tag alone: resolved later, through the member role.
  const digest =
    arrival !== undefined && tag !== undefined && own(detail, 'image-digest') === undefined
      ? undefined
      : requiredString(detail, 'image-digest', 'detail.image-digest');
  if (digest !== undefined && !isDigest(digest)) fail('detail.image-digest', `expected sha256:<64 lowercase hex>, got ${describeValue(digest)}`);
  const manifestMediaType = optionalMatching(detail, 'manifest-media-type', 'detail.manifest-media-type', MEDIA_TYPE_RE, 'a media type');
  const artifactMediaType = optionalMatching(detail, 'artifact-media-type', 'detail.artifact-media-type', MEDIA_TYPE_RE, 'a media type');

  const registry = ecrHost(account, region);
  const pushEvent: PushEvent = {
    kind,
    action,
    account,
    region,
    repository,
    eventId,
    time,
    registry,
    imageReference: digest !== undefined ? `${registry}/${repository}@${digest}` : `${registry}/${repository}:${tag}`,
  };
  if (digest !== undefined) pushEvent.digest = digest;
  if (arrival !== undefined) pushEvent.arrival = arrival;
  if (tag !== undefined) pushEvent.tag = tag;
  if (manifestMediaType !== undefined) pushEvent.manifestMediaType = manifestMediaType;
  if (artifactMediaType !== undefined) pushEvent.artifactMediaType = artifactMediaType;
  return accepted(pushEvent);
}

function isPushAction(action: string): action is PushAction {
  return action === 'PUSH' || action === 'DELETE';
}

export type SignatureArtifactKind = 'sig' | 'att' | 'sbom';

/**
 * The image a cosign tag-based artifact belongs to, when the pushed tag is one
 * (`sha256-<hex>.sig|.att|.sbom`): pushing a signature should re-verify the
 * subject image, not the signature manifest itself.
 */
export function signatureSubject(event: PushEvent): { digest: string; kind: SignatureArtifactKind } | undefined {
  const m = event.tag === undefined ? null : COSIGN_TAG_RE.exec(event.tag);
  if (!m) return undefined;
  return { digest: `sha256:${m[1]}`, kind: m[2] as SignatureArtifactKind };
}

/**
 * A short, log-safe description of any value: strings quoted and cut to a few
 * dozen characters (with their length), other values by type only, so that a
 * reason never echoes a huge or nested input.
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    if (value.length <= QUOTE_CHARS) return JSON.stringify(value);
    return `${JSON.stringify(value.slice(0, QUOTE_CHARS))}… (${value.length} chars)`;
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  return typeof value;
}

// Thrown only inside readEvent and turned into a rejection by parseEcrEvent,
// so each check below can stop at the first bad field in one line.
class FieldError extends Error {}

function fail(path: string, problem: string): never {
  throw new FieldError(`${path}: ${problem}`);
}

/** An own property only: a key like "constructor" must not reach Object.prototype. */
export function own(obj: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

function object(value: unknown, path: string): Record<string, unknown> {
  if (value === undefined) fail(path, 'missing');
  if (!isObject(value)) fail(path, `expected an object, got ${describeValue(value)}`);
  return value;
}

function requiredString(obj: Record<string, unknown>, key: string, path: string): string {
  const value = own(obj, key);
  if (value === undefined) fail(path, 'missing');
  if (typeof value !== 'string') fail(path, `expected a string, got ${describeValue(value)}`);
  return value;
}

function matching(obj: Record<string, unknown>, key: string, path: string, re: RegExp, expected: string): string {
  const value = requiredString(obj, key, path);
  if (!re.test(value)) fail(path, `expected ${expected}, got ${describeValue(value)}`);
  return value;
}

/** Absent and "" both mean "not set": ECR sends `"image-tag": ""` for a push by digest. */
function optionalMatching(obj: Record<string, unknown>, key: string, path: string, re: RegExp, expected: string): string | undefined {
  const value = own(obj, key);
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') fail(path, `expected a string, got ${describeValue(value)}`);
  if (!re.test(value)) fail(path, `expected ${expected}, got ${describeValue(value)}`);
  return value;
}

function repositoryName(value: string): string {
  // Length first: it bounds the regex's work on hostile input.
  if (value.length < REPOSITORY_MIN || value.length > REPOSITORY_MAX) {
    fail('detail.repository-name', `expected ${REPOSITORY_MIN}–${REPOSITORY_MAX} characters, got ${describeValue(value)}`);
  }
  if (!REPOSITORY_RE.test(value)) {
    fail('detail.repository-name', `expected lowercase [a-z0-9] components joined by . _ - and /, got ${describeValue(value)}`);
  }
  return value;
}

/** ISO 8601 with a real calendar date: Date.parse alone turns 2023-02-29 into March 1. */
function isoTime(value: string): string {
  const m = TIME_RE.exec(value);
  const ms = m ? Date.parse(value) : NaN;
  if (!m || Number.isNaN(ms) || !isCalendarDate(Number(m[1]), Number(m[2]), Number(m[3]))) {
    fail('time', `expected an ISO 8601 time such as 2019-11-16T01:54:34Z, got ${describeValue(value)}`);
  }
  return value;
}

function isCalendarDate(year: number, month: number, day: number): boolean {
  const d = new Date(Date.UTC(year, month - 1, day));
  return d.getUTCMonth() === month - 1 && d.getUTCDate() === day;
}
