import { buildNotification } from '../notify/notification.ts';
import { isNoVerdict, type NoVerdict, type Verdict } from '../verify/verdict.ts';
import { imageId, type VerdictRecord, type VerdictStore } from '../store/verdicts.ts';
import { changeOf, DEFAULT_ERROR_RUNS, heldUnverified, type Change } from './changes.ts';
import { judgementOf, verdictRecordOf } from '../store/verdict-record.ts';
import { deadline, remainingMs, type BatchBudget } from '../deadline.ts';
import { mapLimit } from '../map-limit.ts';
import type { ImagesMessage, RunTrigger } from './messages.ts';
import type { Logger } from '../observability/log.ts';
import { emf } from './metrics.ts';
import type { ChangedImage, RunLedger, RunState, TeamProgress } from './run-ledger.ts';
import { ecrHost } from '../registry/providers/ecr-names.ts';
import type { Topics } from './topics.ts';
import type { Clock } from '../clock.ts';
import type { OwnedImage } from '../pipeline/image-check.ts';

/**
 * The worker: verifies each image of an `images` message through the same
 * path as a push (the injected `verify`), compares the verdict with the one
 * stored, publishes only changes (changes.ts), stores the new verdict, and
 * adds the batch to its run's counters. A verification that throws fails the
 * whole message: SQS delivers it again (then to the DLQ), and the images
 * already handled find their verdict stored and publish nothing twice.
 */

/** The image a verification is for, as the listing named it: an OwnedImage whose registry host follows from its account and region. */
export type ListedImage = Omit<OwnedImage, 'registry'>;

/**
 * What the on-push composition returns for an image (src/pipeline/central.ts):
 * the verdict, or why none could be reached, and where it goes.
 */
export interface VerifyOutcome {
  verdict: Verdict | NoVerdict;
  team?: string;
  topicArn: string;
  policySetVersion: string;
}

/** `signal`: the image's deadline (src/deadline.ts); past it the verdict is "could not verify". */
export type VerifyOwnedImage = (image: ListedImage, trigger: RunTrigger, signal?: AbortSignal) => Promise<VerifyOutcome>;

export interface WorkerDeps {
  verify: VerifyOwnedImage;
  verdicts: Pick<VerdictStore, 'getMany' | 'putMany'>;
  topics: Topics;
  ledger: RunLedger;
  /** Called by whoever's update completes the run: publishes its summaries. */
  complete(state: RunState): Promise<void>;
  log: Logger;
  now: Clock;
  /** Images of one message verified at once (default 4): one repository, so one registry, at a polite rate. */
  concurrency?: number;
  /** Runs in a row an admitted image must fail to be verified before the error is published (default DEFAULT_ERROR_RUNS). */
  errorRuns?: number;
}

export interface BatchStats {
  images: number;
  published: number;
  byVerdict: Record<string, number>;
}

/** The longest one image may take, within its message's share of the invocation (a healthy one takes well under a second). */
const IMAGE_DEADLINE_MS = 30_000;

/**
 * `budget`: the message's share of the invocation's time. Each image has until
 * the earlier of IMAGE_DEADLINE_MS and the end of that share, so a registry
 * that hangs costs its own images a "could not verify", never the message
 * (and its other images) a timeout of the invocation.
 */
export async function verifyBatch(message: ImagesMessage, deps: WorkerDeps, budget?: BatchBudget): Promise<BatchStats> {
  const now = deps.now;
  const { account, region, repository, runId, trigger } = message;
  const registry = ecrHost(account, region);
  const previous = await deps.verdicts.getMany(message.images.map((i) => ({ account, region, repository, digest: i.digest })));
  const teams = new Map<string, TeamProgress>();
  const stats: BatchStats = { images: 0, published: 0, byVerdict: {} };
  const records: VerdictRecord[] = [];

  const verifying = mapLimit(message.images, deps.concurrency ?? 4, async (entry) => {
    const key = { account, region, repository, digest: entry.digest };
    const signal = budget ? deadline(Math.min(IMAGE_DEADLINE_MS, remainingMs(budget.signal)), budget.signal) : undefined;
    const outcome = await deps.verify({ ...key, tags: entry.tags }, trigger, signal);
    const before = previous.get(imageId(key));
    const time = new Date(now());
    const held = heldUnverified(before, outcome.verdict, deps.errorRuns ?? DEFAULT_ERROR_RUNS);
    if (held !== undefined && before) {
      // The stored admit stands; the run counts the image apart, and the next run tries again.
      const reason = isNoVerdict(outcome.verdict) ? outcome.verdict.error : outcome.verdict.error?.message;
      deps.log.warn('could not verify; the admit stands until the error persists', {
        runId,
        image: `${registry}/${repository}@${entry.digest}`,
        runs: held,
        reason,
      });
      records.push({ ...before, unverifiedRuns: held, time: time.toISOString(), trigger });
      stats.images++;
      stats.byVerdict.unverified = (stats.byVerdict.unverified ?? 0) + 1;
      tally(teams, outcome, 'unverified', undefined, before, { image: `${registry}/${repository}@${entry.digest}`, tags: entry.tags });
      return;
    }
    const judgement = judgementOf(outcome.verdict);
    const change = changeOf(before, judgement);
    if (change) {
      const n = buildNotification({
        verdict: outcome.verdict,
        image: { registry, repository, digest: entry.digest, tags: entry.tags, account, region },
        ...(outcome.team !== undefined ? { team: outcome.team } : {}),
        trigger,
        time,
      });
      // Published before it is stored (below, for the whole message): if publishing fails, the retry still sees the old verdict.
      await deps.topics.publishVerdict(n, outcome.topicArn);
      stats.published++;
      deps.log.info('verdict changed', { runId, image: n.image, change, from: before?.verdict ?? null, to: judgement.verdict });
    }
    records.push(verdictRecordOf(key, outcome, trigger, time, before));
    stats.images++;
    stats.byVerdict[judgement.verdict] = (stats.byVerdict[judgement.verdict] ?? 0) + 1;
    tally(teams, outcome, judgement.verdict, change, before, { image: `${registry}/${repository}@${entry.digest}`, tags: entry.tags });
  });
  try {
    await verifying;
  } finally {
    // Whatever was verified (and, if it changed, published) is stored, even when another image of the
    // message failed: the retried message then republishes nothing for it.
    await deps.verdicts.putMany(records);
  }
  const state = await deps.ledger.batchDone(runId, message.batchId, [...teams.values()]);
  deps.log.info(
    'reverify batch',
    emf(
      'reverify-worker',
      { imagesVerified: stats.images, verdictsPublished: stats.published },
      { runId, account, region, repository, run: { planned: state.planned, done: state.done } },
      now(),
    ),
  );
  if (state.complete) await deps.complete(state);
  return stats;
}

function tally(
  teams: Map<string, TeamProgress>,
  outcome: VerifyOutcome,
  verdict: 'admit' | 'deny' | 'warn' | 'error' | 'unverified',
  change: Change | undefined,
  before: VerdictRecord | undefined,
  image: { image: string; tags: string[] },
): void {
  // A group without a team is reported under its topic, so that two such groups never share a summary.
  const team = outcome.team ?? `-${outcome.topicArn.split(':').pop() ?? ''}`;
  let t = teams.get(team);
  if (!t) {
    t = { team, topicArn: outcome.topicArn, counts: { admit: 0, deny: 0, warn: 0, error: 0, unverified: 0, changed: 0 }, changes: [], changesOmitted: 0 };
    teams.set(team, t);
  }
  t.counts[verdict]++;
  if (change) {
    t.counts.changed++;
    const reason = isNoVerdict(outcome.verdict) ? outcome.verdict.error : outcome.verdict.reasons[0];
    const c: ChangedImage = { ...image, from: before?.verdict ?? 'none', to: verdict, ...(reason ? { reason } : {}) };
    t.changes.push(c);
  }
}
