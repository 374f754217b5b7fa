import { deadline, remainingMs, type BatchBudget } from '../deadline.ts';
import { isUnavailable, reasonOf, SigwatchError } from '../errors.ts';
import { processPartialResponse } from '../partial-batch.ts';
import { signatureSubject } from '../events/ecr.ts';
import type { IncomingBatch, IncomingRecord } from '../events/envelope.ts';
import type { PushEvent, Recheck } from '../events/types.ts';
import { buildNotification, type Notification } from '../notify/notification.ts';
import type { Logger } from '../observability/log.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { IdempotencyStore } from '../store/idempotency.ts';
import type { VerdictRecord } from '../store/verdicts.ts';
import { verdictRecordOf } from '../store/verdict-record.ts';
import type { BatchVerifier, ImageVerifier, OwnedImage } from './image-check.ts';
import type { Clock } from '../clock.ts';

/**
 * The on-push step: each event of a batch becomes at most one message per
 * verdict, to the owning team's topic (errors also to the operators'), and
 * nothing is lost: a record fails (SQS redelivers it, then dead-letters it)
 * when it is malformed, when a transient failure stopped its verification,
 * or when its message could not be delivered.
 */

export interface TopicPublisher {
  publishTo(n: Notification, topicArn: string): Promise<void>;
}

/** Sends a delayed re-check of an event (the SQS push queue with DelaySeconds). */
export type RecheckScheduler = (raw: unknown, recheck: Recheck, delaySeconds: number) => Promise<void>;

export interface OnPushDeps {
  verifier: ImageVerifier;
  publisher: TopicPublisher;
  idempotency: IdempotencyStore;
  /** Absent: no grace period, a deny is published at once (local runs). */
  recheck?: RecheckScheduler;
  /** How long an image may wait for its signature before its deny is published. */
  graceMs: number;
  now: Clock;
  log: Logger;
  metrics: Metrics;
  /** Where the last verdict of each image is kept, so that re-verification reports only changes. */
  verdicts?: { put(record: VerdictRecord): Promise<void> };
  /** Records verified at once (default DEFAULT_RECORD_CONCURRENCY). */
  concurrency?: number;
  /**
   * The receive of a record at which "could not verify" (a deadline, an
   * unreachable registry) is reported as an `error` verdict instead of being
   * retried (default DEFAULT_UNVERIFIED_ATTEMPTS; below the queue's maxReceiveCount).
   */
  unverifiedAttempts?: number;
}

export interface PushOutcome {
  failedMessageIds: string[];
  /** What was published, for the CLI and tests. */
  published: Notification[];
}

/** SQS's ceiling for DelaySeconds. */
const MAX_DELAY_SECONDS = 900;
/** A full SQS batch (batchSize 10 in serverless.yml) at once: verification is mostly waiting. */
const DEFAULT_RECORD_CONCURRENCY = 10;
/** Two retries through the queue's redrive, then `error`; the queue dead-letters at 5. */
const DEFAULT_UNVERIFIED_ATTEMPTS = 3;

const IMAGE_MANIFEST_TYPES = new Set(['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json']);

export async function handlePushBatch(batch: IncomingBatch, deps: OnPushDeps, budget?: BatchBudget): Promise<PushOutcome> {
  const outcome: PushOutcome = { failedMessageIds: [], published: [] };
  if (batch.batchError) deps.log.error('unusable batch', { reason: batch.batchError });
  const accepted = batch.records.filter((r) => r.parsed.ok);
  for (const r of batch.records) {
    if (r.parsed.ok) continue;
    const id = r.messageId ?? '';
    if (r.parsed.ignored) {
      deps.log.info('event ignored', { messageId: id, reason: r.parsed.reason });
      continue;
    }
    // Failed, so that SQS moves it to the dead-letter queue after its last receive, where it can be read.
    deps.log.error('event rejected', { messageId: id, reason: r.parsed.reason });
    deps.metrics.add('RejectedRecords', 1, 'Count');
    outcome.failedMessageIds.push(id);
  }
  if (accepted.length === 0) return outcome;

  let verifier: BatchVerifier;
  try {
    verifier = await deps.verifier.beginBatch();
  } catch (err) {
    // No configuration, no verdicts: every record goes back to the queue, and the error alarm fires.
    deps.log.error('configuration unavailable', { reason: reasonOf(err) });
    for (const r of accepted) outcome.failedMessageIds.push(r.messageId ?? '');
    return outcome;
  }
  // Each record gets an equal share of the batch's time, so one hanging registry costs only its own records.
  const width = Math.max(1, Math.min(deps.concurrency ?? DEFAULT_RECORD_CONCURRENCY, accepted.length));
  const shareMs = budget ? budget.ms / Math.ceil(accepted.length / width) : undefined;
  const { failedMessageIds } = await processPartialResponse(
    accepted,
    async (record) => {
      const signal = budget && shareMs !== undefined ? deadline(Math.min(shareMs, remainingMs(budget.signal)), budget.signal) : undefined;
      try {
        await handleRecord(record, verifier, deps, outcome, signal);
      } catch (err) {
        const event = record.parsed.ok ? record.parsed.event : undefined;
        const digest = event?.digest;
        if (!(event && digest !== undefined && isUnavailable(err) && exhausted(record, deps))) throw err;
        // Not even the image's owner could be read in time: the operators hear it, by code.
        await reportUnavailable(record, { ...event, digest }, verifier, err, deps, outcome);
      }
    },
    {
      concurrency: width,
      onFailure: (record, err) => {
        const event = record.parsed.ok ? record.parsed.event : undefined;
        deps.log.error('record failed, will be retried', {
          messageId: record.messageId,
          correlationId: event?.eventId,
          image: event?.imageReference,
          reason: reasonOf(err),
          ...(err instanceof SigwatchError ? { code: err.code } : {}),
        });
        deps.metrics.add('FailedRecords', 1, 'Count');
      },
    },
  );
  outcome.failedMessageIds.push(...failedMessageIds);
  return outcome;
}

/** Whether this receive is the last that retries "could not verify"; a bare event (no queue) is never retried. */
function exhausted(record: IncomingRecord, deps: OnPushDeps): boolean {
  return record.receiveCount === undefined || record.receiveCount >= (deps.unverifiedAttempts ?? DEFAULT_UNVERIFIED_ATTEMPTS);
}

async function reportUnavailable(
  record: IncomingRecord,
  event: PushEvent & { digest: string },
  verifier: BatchVerifier,
  err: SigwatchError,
  deps: OnPushDeps,
  outcome: PushOutcome,
): Promise<void> {
  const image = {
    account: event.account,
    region: event.region,
    registry: event.registry,
    repository: event.repository,
    digest: event.digest,
    tags: event.tag !== undefined ? [event.tag] : [],
  };
  const log = deps.log.child({ correlationId: event.eventId, messageId: record.messageId, image: event.imageReference });
  log.error('could not verify, reported', { code: err.code, reason: err.message, receiveCount: record.receiveCount });
  deps.metrics.add('Verdicts', 1, 'Count', { verdict: 'error' });
  const n = buildNotification({ verdict: { error: err.message, code: err.code }, image, trigger: 'push', time: new Date(deps.now()), eventId: event.eventId });
  await publishOnce(
    n,
    verifier.operatorsTopicArn,
    `idem#${image.account}#${image.region}#${image.repository}@${image.digest}#-#push#unverified-operators`,
    deps,
    outcome,
    log,
  );
}

async function handleRecord(
  record: IncomingRecord,
  verifier: BatchVerifier,
  deps: OnPushDeps,
  outcome: PushOutcome,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (!record.parsed.ok) return;
  const { event, recheck, raw } = record.parsed;
  const log = deps.log.child({
    correlationId: event.eventId,
    messageId: record.messageId,
    image: event.imageReference,
    ...(event.arrival ? { arrival: event.arrival } : {}),
  });
  const started = performance.now();

  const target = await subjectOf(event, verifier, signal);
  if ('skip' in target) {
    log.info('no verdict needed', { reason: target.skip });
    return;
  }
  const image: OwnedImage = {
    account: event.account,
    region: event.region,
    registry: event.registry,
    repository: event.repository,
    digest: target.digest,
    // The pushed tag belongs to the digest judged unless that is a signature's subject or a referrer's.
    tags: (event.digest === undefined || target.digest === event.digest) && event.tag !== undefined ? [event.tag] : [],
  };
  // A signature deleted with its image (`cosign clean`, an image deletion) leaves nothing to judge;
  // a registry that fails to answer throws, and the record is retried.
  if (event.action === 'DELETE' && !(await verifier.exists(image, signal))) {
    log.info('subject image is gone too: no verdict', { digest: image.digest });
    return;
  }
  const check = await verifier.check(image, signal);
  const publish = (n: Notification, topicArn: string, key: string) => publishOnce(n, topicArn, key, deps, outcome, log);
  const notification = (verdict: Parameters<typeof buildNotification>[0]['verdict'], team?: string) =>
    buildNotification({ verdict, image, team, trigger: 'push', time: new Date(deps.now()), eventId: event.eventId });
  const key = (what: string, version = '-') => `idem#${image.account}#${image.region}#${image.repository}@${image.digest}#${version}#push#${what}`;

  if (check.kind === 'unowned') {
    log.warn('image of no association', { reason: check.reason });
    deps.metrics.add('Verdicts', 1, 'Count', { verdict: 'error' });
    await publish(notification({ error: check.reason }), verifier.operatorsTopicArn, key('unowned'));
    return;
  }
  if (check.kind === 'error') {
    log.error('no verdict reached', { reason: check.reason, group: check.audience.group, ...(check.code ? { code: check.code } : {}) });
    deps.metrics.add('Verdicts', 1, 'Count', { verdict: 'error' });
    const n = notification({ error: check.reason, ...(check.code ? { code: check.code } : {}) }, check.audience.team);
    await publish(n, check.audience.topicArn, key('error'));
    if (verifier.operatorsTopicArn !== check.audience.topicArn) await publish(n, verifier.operatorsTopicArn, key('error-operators'));
    return;
  }

  const { verdict, audience } = check;
  if (verdict.error) {
    // "Could not verify" is no judgement of the image: retried through the queue, then reported as `error`.
    if (!exhausted(record, deps)) {
      log.warn('could not verify, will be retried', { code: verdict.error.code, reason: verdict.error.message, receiveCount: record.receiveCount });
      deps.metrics.add('UnverifiedRecords', 1, 'Count');
      throw new SigwatchError(verdict.error.code, verdict.error.message);
    }
    log.error('could not verify, reported', {
      code: verdict.error.code,
      reason: verdict.error.message,
      group: audience.group,
      receiveCount: record.receiveCount,
    });
    deps.metrics.add('Verdicts', 1, 'Count', { verdict: 'error' });
    const n = notification(verdict, audience.team);
    await publish(n, audience.topicArn, key('unverified', check.policySetVersion));
    if (verifier.operatorsTopicArn !== audience.topicArn) await publish(n, verifier.operatorsTopicArn, key('unverified-operators', check.policySetVersion));
    return;
  }
  if (verdict.verdict === 'deny' && deps.recheck) {
    // cosign pushes the signature after the image: a deny is final only after the grace period.
    const firstSeen = recheck?.firstSeen ?? event.time;
    const remainingMs = Date.parse(firstSeen) + deps.graceMs - deps.now();
    if (remainingMs > 0) {
      const delaySeconds = Math.min(MAX_DELAY_SECONDS, Math.max(1, Math.ceil(remainingMs / 1000)));
      await deps.recheck(raw, { firstSeen, attempt: (recheck?.attempt ?? 0) + 1 }, delaySeconds);
      log.info('deny deferred until the grace period ends', { delaySeconds, reasons: verdict.reasons });
      deps.metrics.add('DeferredDenies', 1, 'Count');
      return;
    }
  }
  deps.metrics.add('Verdicts', 1, 'Count', { verdict: verdict.verdict });
  deps.metrics.add('VerificationLatency', performance.now() - started, 'Milliseconds');
  log.info('verdict', { verdict: verdict.verdict, group: audience.group, reasons: verdict.reasons });
  await publish(notification(verdict, audience.team), audience.topicArn, key(verdict.verdict, check.policySetVersion));
  // The first re-verification compares with this; without it, that run reports the image as new.
  await deps.verdicts
    ?.put(verdictRecordOf(image, { verdict, policySetVersion: check.policySetVersion }, 'push', new Date(deps.now())))
    .catch((err: unknown) => log.error('verdict not recorded', { reason: reasonOf(err) }));
}

/**
 * Which digest an event is about: a cosign `.sig`/`.att` tag or a referrer
 * artifact stands for its subject; an untagged platform manifest is part of
 * a multi-arch push, judged through its index (cosign signs the index), so
 * N+1 events give one verdict.
 */
async function subjectOf(event: PushEvent, verifier: BatchVerifier, signal: AbortSignal | undefined): Promise<{ digest: string } | { skip: string }> {
  const tagged = signatureSubject(event);
  if (tagged) return { digest: tagged.digest };
  const where = { account: event.account, region: event.region, registry: event.registry, repository: event.repository };
  if (event.digest === undefined) {
    // A cached or replicated image named by its tag alone: its digest, read through the member role.
    const digest = await verifier.resolveTag(where, event.tag!, signal);
    return digest ? { digest } : { skip: `${event.imageReference} is no longer in the registry` };
  }
  const owned = { ...where, digest: event.digest, tags: [] };
  if (event.kind === 'referrer') {
    if (event.action === 'DELETE') return { skip: 'a deleted referrer is gone: its subject is re-verified by the schedule' };
    // ECR names either the referrer or its subject; a manifest without `subject` is the subject itself.
    return { digest: (await verifier.referrerSubject(owned, signal)) ?? event.digest };
  }
  if (event.action === 'DELETE') return { skip: 'the image was deleted' };
  if (event.tag === undefined && (event.manifestMediaType === undefined || IMAGE_MANIFEST_TYPES.has(event.manifestMediaType))) {
    // An untagged manifest is a referrer (a cosign v3 bundle: judge its subject) or a platform manifest of a multi-arch push.
    const subject = await verifier.referrerSubject(owned, signal);
    if (subject) return { digest: subject };
    return { skip: 'an untagged platform manifest (part of a multi-arch push): judged through its index, and by re-verification' };
  }
  return { digest: event.digest };
}

async function publishOnce(n: Notification, topicArn: string, key: string, deps: OnPushDeps, outcome: PushOutcome, log: Logger): Promise<void> {
  const claim = await deps.idempotency.claim(key);
  if (claim === 'done') {
    log.info('already published', { verdict: n.verdict });
    deps.metrics.add('DuplicateVerdicts', 1, 'Count');
    return;
  }
  if (claim === 'in-progress') throw new SigwatchError('CLAIMED', 'another invocation is publishing this verdict; retrying after its claim expires');
  try {
    await deps.publisher.publishTo(n, topicArn);
  } catch (err) {
    await deps.idempotency.release(key).catch((e: unknown) => log.error('idempotency release failed', { reason: reasonOf(e) }));
    throw err;
  }
  outcome.published.push(n);
  await deps.idempotency.complete(key);
}
