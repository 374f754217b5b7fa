import { createHash } from 'node:crypto';
import type { ECRClient } from '@aws-sdk/client-ecr';
import type { AwsCredentials } from '../accounts/sts.ts';
import type { AccountConfig, Association, SigwatchConfig } from '../accounts/types.ts';
import { reasonOf } from '../errors.ts';
import { imagesPage, repositoriesPage, type ListingContext, type ThrottleRetry } from './ecr-listing.ts';
import { mapLimit } from '../map-limit.ts';
import { IMAGES_PER_MESSAGE, MESSAGE_VERSION, type ImagesMessage, type PlanCursor, type PlanMessage, type PlanScope, type RunTrigger } from './messages.ts';
import type { Logger } from '../observability/log.ts';
import { emf } from './metrics.ts';
import type { QueueSender } from './queue.ts';
import type { RunLedger, RunState } from './run-ledger.ts';
import { ecrHost } from '../registry/providers/ecr-names.ts';
import { globCouldMatchRepository, globsMatchImage, imageSelected, repositoryIncluded } from './selection.ts';
import type { Clock } from '../clock.ts';

/**
 * The planner: for each associated account and region, the repositories and
 * images to re-verify, sent to the reverify queue in batches. It lists, it
 * never verifies; the workers do that. A listing that runs out of time sends
 * its cursor to the same queue (a `plan` message) and the next invocation
 * resumes there. One account failing (its role refuses sigwatch, its ECR
 * refuses the listing) is reported and counted; the others go on.
 */

export interface PlanTarget {
  association: Association;
  account: AccountConfig;
  region: string;
}

export interface PlannerDeps {
  config: SigwatchConfig;
  /** Credentials of the account's associated role (AwsSessions.credentialsFor). */
  credentials(association: Association, account: AccountConfig): Promise<AwsCredentials>;
  /** An ECR client for the region, carrying those credentials. */
  ecr(region: string, credentials: AwsCredentials): ECRClient;
  /** The globs of the policies that apply to a group's images (its own and its ancestors'). */
  globsFor(group: string): Promise<string[]>;
  queue: QueueSender;
  ledger: RunLedger;
  /** Tells the operators that a target could not be listed (their topic): the run goes on without it. */
  reportFailure(failure: { runId: string; trigger: RunTrigger; account: string; region: string; group: string; reason: string }): Promise<void>;
  /** Called by whoever's update completes the run: publishes its summaries (see summary.ts). */
  complete(state: RunState): Promise<void>;
  /** Milliseconds left in this invocation. */
  remainingMs(): number;
  log: Logger;
  now: Clock;
  retry?: ThrottleRetry;
  /** Accounts listed at once (default 4); one account's regions are listed one after the other. */
  accountsInParallel?: number;
  /** Stop listing and hand over a cursor when less than this is left (default 20 s: a page and its batches take a few seconds). */
  reserveMs?: number;
}

/** Invocations one listing may take before it is given up and reported: a cursor that never ends is a bug. */
const MAX_HOPS = 200;
const DEFAULT_RESERVE_MS = 20_000;

export interface PlanStats {
  repositories: number;
  repositoriesSkipped: number;
  images: number;
  imagesSkipped: number;
  messages: number;
  ecrRequests: number;
  continued: number;
  failed: number;
}

/** Every associated account × region, or those of the associations `keep` selects. */
export function planTargets(config: SigwatchConfig, keep: (association: Association) => boolean = () => true): PlanTarget[] {
  const targets: PlanTarget[] = [];
  for (const association of config.associations) {
    if (!keep(association)) continue;
    for (const account of association.accounts) for (const region of account.regions) targets.push({ association, account, region });
  }
  return targets;
}

function targetId(t: { account: string; region: string }): string {
  return `${t.account}/${t.region}`;
}

interface Work {
  target: PlanTarget;
  cursor: PlanCursor;
  hop: number;
}

/** Starts a run over `targets`: records it, then lists them (continuing through the queue when time runs out). */
export async function startRun(deps: PlannerDeps, run: { runId: string; trigger: RunTrigger; targets: PlanTarget[]; scope?: PlanScope }): Promise<PlanStats> {
  await deps.ledger.start(run.runId, run.trigger, run.targets.length);
  deps.log.info('reverify run started', { runId: run.runId, trigger: run.trigger, targets: run.targets.length });
  if (run.targets.length === 0) {
    const state = await deps.ledger.state(run.runId);
    if (state.complete) await deps.complete(state);
  }
  return planWork(
    deps,
    run.runId,
    run.trigger,
    run.scope,
    run.targets.map((target) => ({ target, cursor: { repositoriesDone: 0 }, hop: 0 })),
  );
}

/** Resumes a listing from a `plan` message. */
export async function continuePlan(deps: PlannerDeps, message: PlanMessage): Promise<PlanStats> {
  const found = planTargets(deps.config).find((t) => t.account.id === message.account && t.region === message.region);
  if (!found) {
    // The configuration changed under the run: the account is no longer associated in that region.
    const stats = emptyStats();
    await fail(
      deps,
      message.runId,
      message.trigger,
      { account: message.account, region: message.region, group: '' },
      'no longer associated in the sigwatch configuration',
      stats,
    );
    return stats;
  }
  return planWork(deps, message.runId, message.trigger, message.scope, [{ target: found, cursor: message.cursor, hop: message.hop }]);
}

async function planWork(deps: PlannerDeps, runId: string, trigger: RunTrigger, scope: PlanScope | undefined, work: Work[]): Promise<PlanStats> {
  const stats = emptyStats();
  // One account's targets in sequence: ECR's request rates are per account and region, and a member account is polite company.
  const byAccount = new Map<string, Work[]>();
  for (const w of work) byAccount.set(w.target.account.id, [...(byAccount.get(w.target.account.id) ?? []), w]);
  await mapLimit([...byAccount.values()], deps.accountsInParallel ?? 4, async (list) => {
    for (const w of list) await planOne(deps, runId, trigger, scope, w, stats);
  });
  deps.log.info('reverify planning step', emf('reverify-planner', { ...stats }, { runId, trigger }, deps.now()));
  return stats;
}

async function planOne(deps: PlannerDeps, runId: string, trigger: RunTrigger, scope: PlanScope | undefined, w: Work, stats: PlanStats): Promise<void> {
  const { association, account, region } = w.target;
  const where = { account: account.id, region, group: association.group };
  if (w.hop > MAX_HOPS) {
    await fail(deps, runId, trigger, where, `the listing did not finish after ${MAX_HOPS} invocations`, stats);
    return;
  }
  let next: PlanCursor | undefined;
  try {
    next = await listTarget(deps, runId, trigger, scope, w, stats);
  } catch (err) {
    await fail(deps, runId, trigger, where, reasonOf(err), stats);
    return;
  }
  if (next) {
    stats.continued++;
    const message: PlanMessage = {
      sigwatch: 'reverify',
      version: MESSAGE_VERSION,
      kind: 'plan',
      runId,
      trigger,
      account: account.id,
      region,
      ...(scope ? { scope } : {}),
      cursor: next,
      hop: w.hop + 1,
    };
    await deps.queue.send([message]);
    deps.log.info('listing continues in another invocation', {
      runId,
      ...where,
      cursor: { repositoriesDone: next.repositoriesDone, page: next.repositoriesToken ? 'later' : 'first' },
    });
    return;
  }
  const state = await deps.ledger.targetFinished(runId, targetId(where));
  if (state.complete) await deps.complete(state);
}

/** Lists one target from its cursor; returns where to resume when time ran out, undefined when it is finished. */
async function listTarget(
  deps: PlannerDeps,
  runId: string,
  trigger: RunTrigger,
  scope: PlanScope | undefined,
  w: Work,
  stats: PlanStats,
): Promise<PlanCursor | undefined> {
  const { association, account, region } = w.target;
  const reserve = deps.reserveMs ?? DEFAULT_RESERVE_MS;
  const outOfTime = () => deps.remainingMs() < reserve;
  const credentials = await deps.credentials(association, account);
  const ecr = deps.ecr(region, credentials);
  const globs = scope ? scope.globs : await deps.globsFor(association.group);
  const host = ecrHost(account.id, region);
  const ctx: ListingContext = { account: account.id, region, ...(deps.retry ? { retry: deps.retry } : {}), onRequest: () => stats.ecrRequests++ };
  const now = deps.now();
  let cursor: PlanCursor = { ...w.cursor };
  for (;;) {
    const page = await repositoriesPage(ecr, ctx, cursor.repositoriesToken);
    for (let i = cursor.repositoriesDone; i < page.items.length; i++) {
      const repository = page.items[i]!;
      const wanted = repositoryIncluded(repository, association, deps.config.reverify) && globs.some((g) => globCouldMatchRepository(g, host, repository));
      if (!wanted) {
        stats.repositoriesSkipped++;
        continue;
      }
      if (cursor.imagesToken === undefined) stats.repositories++;
      let imagesToken = cursor.imagesToken;
      do {
        const images = await imagesPage(ecr, ctx, repository, imagesToken);
        const entries = [];
        for (const image of images.items) {
          const decision = imageSelected(image, now, deps.config.reverify);
          if (decision.keep && globsMatchImage(globs, host, repository, image.digest)) entries.push({ digest: image.digest, tags: decision.tags });
          else stats.imagesSkipped++;
        }
        await sendImages(deps, runId, trigger, account.id, region, repository, entries, stats);
        imagesToken = images.nextToken;
        if (imagesToken && outOfTime())
          return { ...(cursor.repositoriesToken ? { repositoriesToken: cursor.repositoriesToken } : {}), repositoriesDone: i, imagesToken };
      } while (imagesToken);
      cursor = { ...(cursor.repositoriesToken ? { repositoriesToken: cursor.repositoriesToken } : {}), repositoriesDone: i + 1 };
      if (outOfTime() && (i + 1 < page.items.length || page.nextToken)) return cursor;
    }
    if (!page.nextToken) return undefined;
    cursor = { repositoriesToken: page.nextToken, repositoriesDone: 0 };
    if (outOfTime()) return cursor;
  }
}

async function sendImages(
  deps: PlannerDeps,
  runId: string,
  trigger: RunTrigger,
  account: string,
  region: string,
  repository: string,
  entries: { digest: string; tags: string[] }[],
  stats: PlanStats,
): Promise<void> {
  const messages: ImagesMessage[] = [];
  for (let start = 0; start < entries.length; start += IMAGES_PER_MESSAGE) {
    const images = entries.slice(start, start + IMAGES_PER_MESSAGE);
    messages.push({
      sigwatch: 'reverify',
      version: MESSAGE_VERSION,
      kind: 'images',
      runId,
      batchId: batchId(account, region, repository, images),
      trigger,
      account,
      region,
      repository,
      images,
    });
  }
  // Counted before they are sent, so that no worker can finish the run while images are still on their way.
  for (const m of messages) await deps.ledger.planned(runId, m.batchId, m.images.length);
  if (messages.length > 0) await deps.queue.send(messages);
  stats.images += entries.length;
  stats.messages += messages.length;
}

/** The same images of the same repository always get the same id: a resent batch is not counted twice. */
export function batchId(account: string, region: string, repository: string, images: { digest: string }[]): string {
  const h = createHash('sha256').update(`${account}/${region}/${repository}`);
  for (const i of images) h.update(`\n${i.digest}`);
  return h.digest('base64url').slice(0, 16);
}

async function fail(
  deps: PlannerDeps,
  runId: string,
  trigger: RunTrigger,
  where: { account: string; region: string; group: string },
  reason: string,
  stats: PlanStats,
): Promise<void> {
  stats.failed++;
  deps.log.error('account not listed', emf('reverify-planner', { targetsFailed: 1 }, { runId, ...where, reason }, deps.now()));
  // Reported before it is counted: if the report fails, the retried invocation reports it again.
  await deps.reportFailure({ runId, trigger, ...where, reason });
  const state = await deps.ledger.targetFinished(runId, targetId(where), reason);
  if (state.complete) await deps.complete(state);
}

function emptyStats(): PlanStats {
  return { repositories: 0, repositoriesSkipped: 0, images: 0, imagesSkipped: 0, messages: 0, ecrRequests: 0, continued: 0, failed: 0 };
}
