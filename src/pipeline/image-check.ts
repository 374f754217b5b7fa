import type { ErrorCode } from '../errors.ts';
import type { Verdict } from '../verify/verdict.ts';

/**
 * What the on-push and re-verification paths hand to the verifier, and what
 * they get back. The verifier decides whose image it is and judges it; the
 * callers decide what to publish, when, and to whom.
 */

/** An image in a member account's registry, pinned by digest. */
export interface OwnedImage {
  account: string;
  region: string;
  /** The registry host (`ACCOUNT.dkr.ecr.REGION.amazonaws.com`). */
  registry: string;
  repository: string;
  digest: string;
  /** Tags known for the digest (the pushed tag); for the notification only. */
  tags: string[];
}

export type ImageCheck = JudgedImage | UnownedImage | UnjudgedImage;

/** Who hears about an image: the owning group's team, on its topic. */
export interface Audience {
  group: string;
  team?: string;
  topicArn: string;
}

/** A verdict, with the group whose policies gave it. */
export interface JudgedImage {
  kind: 'verdict';
  verdict: Verdict;
  audience: Audience;
  /** The policy set's content version (see store/group-policies.ts). */
  policySetVersion: string;
}

/**
 * No association covers the image: an `error` for the operators, never a
 * silent drop, and no role is assumed (the confused-deputy rule).
 */
export interface UnownedImage {
  kind: 'unowned';
  reason: string;
}

/**
 * The owner is known but no verdict could be reached for a reason retrying
 * will not fix (a role that refuses sigwatch, an invalid policy): an `error`
 * for the team and the operators. Transient failures are thrown instead, so
 * the record is retried.
 */
export interface UnjudgedImage {
  kind: 'error';
  reason: string;
  audience: Audience;
  /** The cause's code, when it has one (sigwatch's own code that could not be loaded: INTERNAL). */
  code?: ErrorCode;
}

/** The verifier, as seen by one batch: configuration and policies are read once per batch. */
export interface BatchVerifier {
  /** The operators' topic of the configuration this batch read. */
  readonly operatorsTopicArn: string;
  /**
   * `signal`: the record's deadline (src/deadline.ts). Past it the verdict is a
   * deny with `error` (code `DEADLINE`) naming what was still waiting.
   */
  check(image: OwnedImage, signal?: AbortSignal): Promise<ImageCheck>;
  /** The digest a referrer artifact (a cosign v3 bundle…) is about, read from its manifest's `subject`. */
  referrerSubject(image: OwnedImage, signal?: AbortSignal): Promise<string | undefined>;
  /**
   * The digest a tag names now, through the owner's role (an image that arrived
   * by cache or replication named by its tag alone); undefined for a tag that
   * is gone. Throws for an image of no association: no role is assumed for it.
   */
  resolveTag(image: Omit<OwnedImage, 'digest' | 'tags'>, tag: string, signal?: AbortSignal): Promise<string | undefined>;
  /** Whether the registry still has the image (a 404 is false; any failure throws). */
  exists(image: OwnedImage, signal?: AbortSignal): Promise<boolean>;
}

export interface ImageVerifier {
  /** Reads the configuration; throws (and the batch is retried) when it cannot. */
  beginBatch(): Promise<BatchVerifier>;
}
