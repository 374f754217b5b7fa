import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { awsErrorLabel } from '../aws-errors.ts';
import { SigwatchError } from '../errors.ts';
import type { RunTrigger } from './messages.ts';
import type { Clock } from '../clock.ts';

/**
 * A run's progress, in the shared table (docs/runtime.md, `run#<run id>`):
 * - `total`: how many listing targets (account × region) the run has, how many
 *   finished or failed, how many images were sent (`planned`) and verified
 *   (`done`), and the failures;
 * - `team#<team>`: per team, the verdict counts and the images that changed.
 *
 * Every count is an atomic ADD guarded by a set of the batch or target ids
 * already counted, so that SQS's at-least-once delivery and a retried planner
 * never count anything twice. The run is complete when every target is
 * finished and `done` reaches `planned`; whichever update makes that true sees
 * it in its own result (ReturnValues ALL_NEW on one item), and then claims the
 * summary with a conditional write, so that one invocation publishes it.
 */

export interface RunState {
  runId: string;
  trigger: RunTrigger;
  startedAt: string;
  targets: number;
  targetsDone: number;
  targetsFailed: number;
  planned: number;
  done: number;
  failures: { target: string; reason: string }[];
  complete: boolean;
}

export interface TeamCounts {
  admit: number;
  deny: number;
  warn: number;
  error: number;
  /** Could not be verified this run, with the error held back (changes.ts): the stored admit stands. */
  unverified: number;
  changed: number;
}

export interface ChangedImage {
  image: string;
  tags: string[];
  from: string;
  to: string;
  reason?: string;
}

export interface TeamProgress {
  team: string;
  topicArn: string;
  counts: TeamCounts;
  changes: ChangedImage[];
  /** Changed images beyond MAX_CHANGES_LISTED, counted but not listed. */
  changesOmitted: number;
}

/** Changed images listed per team and run; more are counted (a summary is a digest, the verdict messages have the detail). */
export const MAX_CHANGES_LISTED = 200;
const RUN_TTL_DAYS = 14;

export interface RunLedgerOptions {
  now: Clock;
}

export class RunLedger {
  readonly #client: DynamoDBClient;
  readonly #table: string;
  readonly #now: Clock;

  constructor(client: DynamoDBClient, table: string, opts: RunLedgerOptions) {
    if (table === '') throw new SigwatchError('CONFIG', 'run ledger: no table name (SIGWATCH_TABLE)');
    this.#client = client;
    this.#table = table;
    this.#now = opts.now;
  }

  /** Records a run's start; a second start of the same run (a retried schedule) changes nothing. */
  async start(runId: string, trigger: RunTrigger, targets: number): Promise<boolean> {
    try {
      await this.#client.send(
        new PutItemCommand({
          TableName: this.#table,
          Item: {
            ...key(runId, 'total'),
            trigger: { S: trigger },
            startedAt: { S: new Date(this.#now()).toISOString() },
            targets: { N: String(targets) },
            targetsDone: { N: '0' },
            targetsFailed: { N: '0' },
            planned: { N: '0' },
            done: { N: '0' },
            expiresAt: this.#expiresAt(),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw ledgerError('start', runId, err);
    }
  }

  /** Adds a batch of `count` images sent to the queue (before sending: `done` never gets ahead of `planned`). */
  async planned(runId: string, batchId: string, count: number): Promise<void> {
    await this.#guardedAdd(runId, 'total', 'plannedBatches', batchId, { planned: count });
  }

  /** A listing target finished, or failed with `reason`; the run's state after it. */
  async targetFinished(runId: string, target: string, failure?: string): Promise<RunState> {
    const extra = failure === undefined ? {} : { failure: { target, reason: failure } };
    const state = await this.#guardedAdd(runId, 'total', 'finishedTargets', target, failure === undefined ? { targetsDone: 1 } : { targetsFailed: 1 }, extra);
    return typeof state === 'object' ? state : this.state(runId);
  }

  /** A batch verified: its counts and changes per team, then the run's `done`; the run's state after it. */
  async batchDone(runId: string, batchId: string, teams: readonly TeamProgress[]): Promise<RunState> {
    for (const t of teams) await this.#teamAdd(runId, batchId, t);
    const images = teams.reduce((n, t) => n + imagesOf(t.counts), 0);
    const state = await this.#guardedAdd(runId, 'total', 'doneBatches', batchId, { done: images });
    return typeof state === 'object' ? state : this.state(runId);
  }

  async state(runId: string): Promise<RunState> {
    const out = await this.#send('read', runId, () =>
      this.#client.send(new GetItemCommand({ TableName: this.#table, Key: key(runId, 'total'), ConsistentRead: true })),
    );
    if (!out.Item) throw new SigwatchError('INTERNAL', `run ledger: run ${runId} was never started`);
    return stateOf(runId, out.Item);
  }

  /** True for the one caller that may publish the run's summaries. */
  async claimSummary(runId: string): Promise<boolean> {
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#table,
          Key: key(runId, 'total'),
          UpdateExpression: 'SET summarizedAt = :t',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(summarizedAt)',
          ExpressionAttributeValues: { ':t': { S: new Date(this.#now()).toISOString() } },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw ledgerError('claim the summary of', runId, err);
    }
  }

  /** Gives the claim back after a failed publish, so that the retried message publishes the summaries. */
  async releaseSummary(runId: string): Promise<void> {
    await this.#send('release the summary of', runId, () =>
      this.#client.send(new UpdateItemCommand({ TableName: this.#table, Key: key(runId, 'total'), UpdateExpression: 'REMOVE summarizedAt' })),
    );
  }

  async teams(runId: string): Promise<TeamProgress[]> {
    const teams: TeamProgress[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await this.#send('read', runId, () =>
        this.#client.send(
          new QueryCommand({
            TableName: this.#table,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :team)',
            ExpressionAttributeValues: { ':pk': { S: `run#${runId}` }, ':team': { S: 'team#' } },
            ConsistentRead: true,
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        ),
      );
      for (const item of out.Items ?? []) teams.push(teamOf(item));
      start = out.LastEvaluatedKey;
    } while (start);
    return teams.sort((a, b) => (a.team < b.team ? -1 : a.team > b.team ? 1 : 0));
  }

  async #teamAdd(runId: string, batchId: string, t: TeamProgress): Promise<void> {
    const sk = `team#${t.team}`;
    const counts = {
      admit: t.counts.admit,
      deny: t.counts.deny,
      warn: t.counts.warn,
      error: t.counts.error,
      unverified: t.counts.unverified,
      changed: t.counts.changed,
    };
    const changes = t.changes.map(changeItem);
    const base = { team: { S: t.team }, topicArn: { S: t.topicArn } };
    // First with the changes listed, while the list has room; then, if it has none, counted only.
    const listed = await this.#guardedAdd(runId, sk, 'batches', batchId, counts, {}, base, changes.length > 0 ? changes : undefined);
    if (listed === 'full') await this.#guardedAdd(runId, sk, 'batches', batchId, { ...counts, changesOmitted: changes.length }, {}, base);
  }

  /**
   * ADD `counts` to one item unless `id` is already in its `setName`
   * (then nothing happens and undefined is returned). `changes` are appended
   * to the item's list while it holds fewer than MAX_CHANGES_LISTED ('full' otherwise).
   */
  async #guardedAdd(
    runId: string,
    sk: string,
    setName: string,
    id: string,
    counts: Record<string, number>,
    extra: { failure?: { target: string; reason: string } } = {},
    set: Record<string, AttributeValue> = {},
    changes?: AttributeValue[],
  ): Promise<RunState | undefined | 'full'> {
    const names: Record<string, string> = { '#set': setName };
    const values: Record<string, AttributeValue> = { ':id': { SS: [id] }, ':idv': { S: id } };
    const add = ['#set :id'];
    Object.entries(counts).forEach(([k, v], i) => {
      names[`#c${i}`] = k;
      values[`:c${i}`] = { N: String(v) };
      add.push(`#c${i} :c${i}`);
    });
    const sets = ['expiresAt = if_not_exists(expiresAt, :exp)'];
    values[':exp'] = this.#expiresAt();
    Object.entries(set).forEach(([k, v], i) => {
      names[`#s${i}`] = k;
      values[`:s${i}`] = v;
      sets.push(`#s${i} = :s${i}`);
    });
    let condition = '(attribute_not_exists(#set) OR NOT contains(#set, :idv))';
    if (extra.failure) {
      values[':failure'] = { L: [{ M: { target: { S: extra.failure.target }, reason: { S: extra.failure.reason.slice(0, 1000) } } }] };
      values[':empty'] = { L: [] };
      sets.push('failures = list_append(if_not_exists(failures, :empty), :failure)');
    }
    if (changes) {
      values[':changes'] = { L: changes };
      values[':empty'] = { L: [] };
      values[':max'] = { N: String(MAX_CHANGES_LISTED) };
      sets.push('changes = list_append(if_not_exists(changes, :empty), :changes)');
      condition += ' AND (attribute_not_exists(changes) OR size(changes) < :max)';
    }
    try {
      const out = await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#table,
          Key: key(runId, sk),
          UpdateExpression: `SET ${sets.join(', ')} ADD ${add.join(', ')}`,
          ConditionExpression: sk === 'total' ? `attribute_exists(pk) AND ${condition}` : condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return sk === 'total' && out.Attributes ? stateOf(runId, out.Attributes) : undefined;
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw ledgerError('update', runId, err);
      if (!changes) {
        // Already counted, or (for `total`) a run never started: the latter is a bug worth hearing about.
        if (sk === 'total') await this.state(runId);
        return undefined;
      }
      // Either counted already or the list is full: count without listing (guarded by the same id).
      return 'full';
    }
  }

  #expiresAt(): AttributeValue {
    return { N: String(Math.floor(this.#now() / 1000) + RUN_TTL_DAYS * 86_400) };
  }

  async #send<T>(what: string, runId: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      throw ledgerError(what, runId, err);
    }
  }
}

function key(runId: string, sk: string): Record<string, AttributeValue> {
  return { pk: { S: `run#${runId}` }, sk: { S: sk } };
}

function num(item: Record<string, AttributeValue>, name: string): number {
  return Number(item[name]?.N ?? '0');
}

function stateOf(runId: string, item: Record<string, AttributeValue>): RunState {
  const s = {
    targets: num(item, 'targets'),
    targetsDone: num(item, 'targetsDone'),
    targetsFailed: num(item, 'targetsFailed'),
    planned: num(item, 'planned'),
    done: num(item, 'done'),
  };
  return {
    runId,
    trigger: (item.trigger?.S ?? 'reverify') as RunTrigger,
    startedAt: item.startedAt?.S ?? '',
    ...s,
    failures: (item.failures?.L ?? []).map((f) => ({ target: f.M?.target?.S ?? '', reason: f.M?.reason?.S ?? '' })),
    complete: s.targetsDone + s.targetsFailed >= s.targets && s.done >= s.planned,
  };
}

function changeItem(c: ChangedImage): AttributeValue {
  return {
    M: {
      image: { S: c.image },
      tags: { L: c.tags.slice(0, 10).map((t) => ({ S: t })) },
      from: { S: c.from },
      to: { S: c.to },
      ...(c.reason ? { reason: { S: c.reason.slice(0, 500) } } : {}),
    },
  };
}

/** Images counted: every verdict, and those that could not be verified. */
export function imagesOf(c: TeamCounts): number {
  return c.admit + c.deny + c.warn + c.error + c.unverified;
}

function teamOf(item: Record<string, AttributeValue>): TeamProgress {
  return {
    team: item.team?.S ?? '',
    topicArn: item.topicArn?.S ?? '',
    counts: {
      admit: num(item, 'admit'),
      deny: num(item, 'deny'),
      warn: num(item, 'warn'),
      error: num(item, 'error'),
      unverified: num(item, 'unverified'),
      changed: num(item, 'changed'),
    },
    changes: (item.changes?.L ?? []).map((c) => ({
      image: c.M?.image?.S ?? '',
      tags: (c.M?.tags?.L ?? []).map((t) => t.S ?? ''),
      from: c.M?.from?.S ?? '',
      to: c.M?.to?.S ?? '',
      ...(c.M?.reason?.S ? { reason: c.M.reason.S } : {}),
    })),
    changesOmitted: num(item, 'changesOmitted'),
  };
}

function ledgerError(what: string, runId: string, err: unknown): SigwatchError {
  if (err instanceof SigwatchError) return err;
  return new SigwatchError('INTERNAL', `run ledger: cannot ${what} run ${runId} (${awsErrorLabel(err)})`);
}
