/**
 * The event step's domain types: what the on-push pipeline acts on, with
 * nothing Lambda- or EventBridge-specific left in it.
 */

/** `image` for ECR Image Action, `referrer` for ECR Referrer Action. */
export type PushEventKind = 'image' | 'referrer';
export type PushAction = 'PUSH' | 'DELETE';
/** An image that arrived other than by a push: cached from upstream, or replicated from another account or region. */
export type PushArrival = 'pull-through-cache' | 'replication';

export interface PushEvent {
  kind: PushEventKind;
  action: PushAction;
  /** 12-digit AWS account that owns the registry. */
  account: string;
  region: string;
  repository: string;
  /**
   * `sha256:<64 hex>`: the manifest that was pushed or deleted. Absent only for
   * a pull-through cache or replication event that names a tag alone (AWS's
   * samples carry both): the tag is then resolved through the member role.
   */
  digest?: string;
  /** Absent when the push was by digest (ECR then sends an empty `image-tag`). */
  tag?: string;
  manifestMediaType?: string;
  artifactMediaType?: string;
  /** Absent for a push; otherwise how the image arrived (it is judged like a push). */
  arrival?: PushArrival;
  /** EventBridge event id, for de-duplication of at-least-once delivery. */
  eventId: string;
  /** ISO 8601 time of the event as EventBridge stamped it. */
  time: string;
  /** `ACCOUNT.dkr.ecr.REGION.amazonaws.com` (`.amazonaws.com.cn` in China regions). */
  registry: string;
  /** `registry/repository@digest` (`:tag` when the event has no digest): the reference to verify, pinned to what was pushed. */
  imageReference: string;
}

/**
 * The outcome of reading one event. `ignored` is a well-formed event that needs
 * no verdict (a failed push, an archive action); a rejection is input that is
 * not a usable ECR event, and its reason names the field and the bad value.
 */
export type ParsedEvent = AcceptedEvent | IgnoredEvent | RejectedEvent;

export interface AcceptedEvent {
  ok: true;
  event: PushEvent;
  /** Set when this is sigwatch's own delayed re-check of an event it has seen before. */
  recheck?: Recheck;
  /** The EventBridge event as received (what a re-check message carries again). */
  raw?: unknown;
}

/**
 * A re-check sigwatch scheduled for itself: an image found unsigned is looked
 * at again after a delay, because cosign pushes the signature after the image.
 */
export interface Recheck {
  /** When the image was first seen (the original event's time): the grace period runs from here. */
  firstSeen: string;
  /** 1 for the first re-check. */
  attempt: number;
}

export interface IgnoredEvent {
  ok: false;
  ignored: true;
  reason: string;
}

export interface RejectedEvent {
  ok: false;
  ignored: false;
  reason: string;
}

export function accepted(event: PushEvent): AcceptedEvent {
  return { ok: true, event };
}

export function ignored(reason: string): IgnoredEvent {
  return { ok: false, ignored: true, reason };
}

export function rejected(reason: string): RejectedEvent {
  return { ok: false, ignored: false, reason };
}
