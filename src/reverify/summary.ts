import type { Logger } from '../observability/log.ts';
import { emf } from './metrics.ts';
import type { RunTrigger } from './messages.ts';
import { imagesOf, type ChangedImage, type RunLedger, type RunState, type TeamCounts } from './run-ledger.ts';
import type { Topics } from './topics.ts';
import type { Clock } from '../clock.ts';

/**
 * A run's summaries, published once when the run completes: one per team
 * that had images in the run (to its topic), and one for the operators with
 * the totals and the accounts that could not be listed. Schema in
 * docs/reverify.md; message attribute `type` is `run-summary`.
 */

const SUMMARY_SCHEMA_VERSION = 1;

export interface TeamSummary {
  schemaVersion: typeof SUMMARY_SCHEMA_VERSION;
  type: 'run-summary';
  runId: string;
  trigger: RunTrigger;
  team: string;
  startedAt: string;
  finishedAt: string;
  counts: TeamCounts & { images: number };
  changed: ChangedImage[];
  changesOmitted?: number;
}

export interface OperatorsSummary {
  schemaVersion: typeof SUMMARY_SCHEMA_VERSION;
  type: 'run-summary';
  runId: string;
  trigger: RunTrigger;
  startedAt: string;
  finishedAt: string;
  targets: { total: number; listed: number; failed: number };
  counts: TeamCounts & { images: number };
  failures: { target: string; reason: string }[];
}

export interface SummaryDeps {
  ledger: RunLedger;
  topics: Topics;
  operatorsTopicArn: string;
  log: Logger;
  now: Clock;
}

/** Publishes the run's summaries if this caller is the first to ask; true when it did. */
export async function publishRunSummaries(state: RunState, deps: SummaryDeps): Promise<boolean> {
  if (!(await deps.ledger.claimSummary(state.runId))) return false;
  const finishedAt = new Date(deps.now()).toISOString();
  try {
    const teams = await deps.ledger.teams(state.runId);
    const total: TeamCounts & { images: number } = { images: 0, admit: 0, deny: 0, warn: 0, error: 0, unverified: 0, changed: 0 };
    for (const t of teams) {
      const images = imagesOf(t.counts);
      for (const k of ['admit', 'deny', 'warn', 'error', 'unverified', 'changed'] as const) total[k] += t.counts[k];
      total.images += images;
      const summary: TeamSummary = {
        schemaVersion: SUMMARY_SCHEMA_VERSION,
        type: 'run-summary',
        runId: state.runId,
        trigger: state.trigger,
        team: t.team,
        startedAt: state.startedAt,
        finishedAt,
        counts: { images, ...t.counts },
        changed: t.changes,
        ...(t.changesOmitted > 0 ? { changesOmitted: t.changesOmitted } : {}),
      };
      await deps.topics.publishMessage(t.topicArn, summary, { type: 'run-summary', team: t.team });
    }
    const operators: OperatorsSummary = {
      schemaVersion: SUMMARY_SCHEMA_VERSION,
      type: 'run-summary',
      runId: state.runId,
      trigger: state.trigger,
      startedAt: state.startedAt,
      finishedAt,
      targets: { total: state.targets, listed: state.targetsDone, failed: state.targetsFailed },
      counts: total,
      failures: state.failures,
    };
    await deps.topics.publishMessage(deps.operatorsTopicArn, operators, { type: 'run-summary' });
    deps.log.info(
      'reverify run complete',
      emf(
        'reverify-worker',
        { runImages: total.images, runChanged: total.changed, runTargetsFailed: state.targetsFailed },
        { runId: state.runId, trigger: state.trigger, teams: teams.length },
        deps.now(),
      ),
    );
    return true;
  } catch (err) {
    // Give the claim back: the message that completed the run fails, and its retry publishes.
    await deps.ledger.releaseSummary(state.runId);
    throw err;
  }
}

export interface RunFailure {
  runId: string;
  trigger: RunTrigger;
  account: string;
  region: string;
  group: string;
  reason: string;
}

/** Tells the operators, at once, that an account could not be listed (attribute `type`: `run-failure`). */
export function failureReporter(topics: Topics, operatorsTopicArn: string, now: Clock): (f: RunFailure) => Promise<void> {
  return (f) =>
    topics.publishMessage(
      operatorsTopicArn,
      { schemaVersion: SUMMARY_SCHEMA_VERSION, type: 'run-failure', ...f, time: new Date(now()).toISOString() },
      { type: 'run-failure', account: f.account },
    );
}
