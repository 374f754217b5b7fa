import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  type BatchGetItemCommandOutput,
  type BatchWriteItemCommandOutput,
  type WriteRequest,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { awsErrorLabel } from '../aws-errors.ts';
import { backoff, retry } from '../retry.ts';
import { SigwatchError } from '../errors.ts';
import type { Clock } from '../clock.ts';

/**
 * The verdict store: the last verdict sigwatch reached for each image, so that
 * re-verification publishes only what changed. One item per image in the
 * shared table (docs/runtime.md): `pk` `verdict#<account>#<region>#<repository>`,
 * `sk` the digest, and a TTL, refreshed by every verification, so that the
 * verdicts of images deleted from ECR (no longer listed, no longer verified)
 * expire on their own.
 */

export type StoredVerdict = 'admit' | 'deny' | 'warn' | 'error';

export interface ImageKey {
  account: string;
  region: string;
  repository: string;
  digest: string;
}

export interface VerdictRecord extends ImageKey {
  verdict: StoredVerdict;
  /** Why, as the notification said it (shortened to keep the item small; see MAX_REASONS). */
  reasons: string[];
  /** Names of the `mode: warn` policies that failed: a new one is news even when the verdict stays `warn`. */
  warnings: string[];
  /** ISO 8601 time of the verification. */
  time: string;
  /**
   * ISO 8601 time of the first verification that reached this same verdict:
   * kept while the verdict stays, started again when it changes ("failing
   * since", in the posture report). Absent in items written before it
   * existed; read as `time` then.
   */
  since?: string;
  /** Policy object (file) → version, of the policies that judged the image. */
  policyVersions: Record<string, string>;
  /** Version of the whole policy set the image was judged against. */
  policySetVersion: string;
  /** What caused the verification: `push`, `reverify`, `policy-change`. */
  trigger: string;
  /**
   * Runs in a row that could not verify an image whose stored (and published)
   * verdict is kept meanwhile: an admit stays an admit until the error persists
   * (src/reverify/changes.ts). Absent when the last run reached a verdict.
   */
  unverifiedRuns?: number;
}

export interface VerdictStoreOptions {
  /** Days a verdict is kept after its last verification (default 30). */
  ttlDays?: number;
  now: Clock;
}

/** Reasons kept per verdict, and characters per reason: the item stays far below DynamoDB's 400 KB. */
export const MAX_REASONS = 20;
export const MAX_REASON_CHARS = 1000;
const DEFAULT_TTL_DAYS = 30;
/** BatchGetItem's and BatchWriteItem's limits per request. */
const BATCH_GET_MAX = 100;
const BATCH_WRITE_MAX = 25;
/** Rounds of UnprocessedKeys retried before giving up (DynamoDB returns them under throttling). */
const MAX_UNPROCESSED_ROUNDS = 8;

function verdictKey(image: ImageKey): { pk: string; sk: string } {
  return { pk: `verdict#${image.account}#${image.region}#${image.repository}`, sk: image.digest };
}

export class VerdictStore {
  readonly #client: DynamoDBClient;
  readonly #table: string;
  readonly #ttlSeconds: number;
  readonly #now: Clock;
  readonly #sleep: ((ms: number) => Promise<void>) | undefined;

  constructor(client: DynamoDBClient, table: string, opts: VerdictStoreOptions & { sleep?: (ms: number) => Promise<void> }) {
    if (table === '') throw new SigwatchError('CONFIG', 'verdict store: no table name (SIGWATCH_TABLE)');
    this.#client = client;
    this.#table = table;
    this.#ttlSeconds = Math.round((opts.ttlDays ?? DEFAULT_TTL_DAYS) * 86_400);
    this.#now = opts.now;
    this.#sleep = opts.sleep;
  }

  async get(image: ImageKey): Promise<VerdictRecord | undefined> {
    const out = await this.#send('read', image, () =>
      this.#client.send(new GetItemCommand({ TableName: this.#table, Key: keyOf(image), ConsistentRead: true })),
    );
    return out.Item ? fromItem(out.Item, image) : undefined;
  }

  /** The stored verdicts of many images (BatchGetItem, 100 keys a request), by `imageId`. */
  async getMany(images: readonly ImageKey[]): Promise<Map<string, VerdictRecord>> {
    const found = new Map<string, VerdictRecord>();
    const byKey = new Map(images.map((i) => [itemId(verdictKey(i)), i]));
    const keys = [...byKey.keys()];
    for (let start = 0; start < keys.length; start += BATCH_GET_MAX) {
      let pending: Record<string, AttributeValue>[] = keys.slice(start, start + BATCH_GET_MAX).map((id) => keyOf(byKey.get(id)!));
      await this.#untilProcessed(async () => {
        const request = pending;
        const out: BatchGetItemCommandOutput = await this.#send('read', byKey.get(itemId(plain(request[0]!)))!, () =>
          this.#client.send(new BatchGetItemCommand({ RequestItems: { [this.#table]: { Keys: request, ConsistentRead: true } } })),
        );
        for (const item of out.Responses?.[this.#table] ?? []) {
          const image = byKey.get(itemId(plain(item)));
          if (image) found.set(itemId(verdictKey(image)), fromItem(item, image));
        }
        pending = out.UnprocessedKeys?.[this.#table]?.Keys ?? [];
        return pending.length;
      }, 'keys');
    }
    return found;
  }

  /**
   * Stores one verdict. The caller does not know the stored one (on-push), so
   * `since` is kept here: an update conditional on the same verdict keeps the
   * stored `since`; when the verdict differs (or there is none), the record
   * starts it.
   */
  async put(record: VerdictRecord): Promise<void> {
    const { pk: _pk, sk: _sk, since: _since, ...fields } = this.#toItem(record);
    const names: Record<string, string> = { '#since': 'since', '#verdict': 'verdict' };
    const values: Record<string, AttributeValue> = { ':since': { S: record.since ?? record.time } };
    const sets = ['#since = if_not_exists(#since, :since)'];
    Object.entries(fields).forEach(([k, v], i) => {
      names[`#f${i}`] = k;
      values[`:f${i}`] = v;
      sets.push(`#f${i} = :f${i}`);
    });
    values[':verdict'] = fields.verdict!;
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#table,
          Key: keyOf(record),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: '#verdict = :verdict',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return;
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) await this.#send('write', record, () => Promise.reject(err));
    }
    await this.#send('write', record, () => this.#client.send(new PutItemCommand({ TableName: this.#table, Item: this.#toItem(record) })));
  }

  /**
   * Every stored verdict that has not expired (DynamoDB deletes expired items
   * late, up to days after their TTL), page by page: the posture report's
   * input. `segments` parallel scan segments (DynamoDB's own way of reading a
   * big table faster); pages arrive in no particular order.
   */
  async *scan(opts: { segments?: number } = {}): AsyncGenerator<VerdictRecord[]> {
    const segments = Math.max(1, Math.min(16, opts.segments ?? 1));
    const nowSeconds = String(Math.floor(this.#now() / 1000));
    const readSegment = async function* (this: VerdictStore, segment: number): AsyncGenerator<VerdictRecord[]> {
      let start: Record<string, AttributeValue> | undefined;
      do {
        const out = await this.#send('read', { account: '*', region: '*', repository: '*', digest: `(scan segment ${segment})` }, () =>
          this.#client.send(
            new ScanCommand({
              TableName: this.#table,
              FilterExpression: 'begins_with(pk, :kind) AND (attribute_not_exists(expiresAt) OR expiresAt > :now)',
              ExpressionAttributeValues: { ':kind': { S: 'verdict#' }, ':now': { N: nowSeconds } },
              ...(segments > 1 ? { Segment: segment, TotalSegments: segments } : {}),
              ...(start ? { ExclusiveStartKey: start } : {}),
            }),
          ),
        );
        yield (out.Items ?? []).map((item) => fromItem(item, imageOfItem(item)));
        start = out.LastEvaluatedKey;
      } while (start);
    };
    if (segments === 1) {
      yield* readSegment.call(this, 0);
      return;
    }
    // Segments read concurrently, pages handed out as they come.
    const iterators = Array.from({ length: segments }, (_, i) => readSegment.call(this, i));
    const pending = new Map(iterators.map((it, i) => [i, it.next().then((r) => ({ i, r }))]));
    while (pending.size > 0) {
      const { i, r } = await Promise.race(pending.values());
      if (r.done) {
        pending.delete(i);
        continue;
      }
      pending.set(
        i,
        iterators[i]!.next().then((next) => ({ i, r: next })),
      );
      yield r.value;
    }
  }

  /** Stores many verdicts with BatchWriteItem (25 a request), retrying what DynamoDB leaves unprocessed. */
  async putMany(records: readonly VerdictRecord[]): Promise<void> {
    for (let start = 0; start < records.length; start += BATCH_WRITE_MAX) {
      const chunk = records.slice(start, start + BATCH_WRITE_MAX);
      let pending: WriteRequest[] = chunk.map((r) => ({ PutRequest: { Item: this.#toItem(r) } }));
      await this.#untilProcessed(async () => {
        const request = pending;
        const out: BatchWriteItemCommandOutput = await this.#send('write', chunk[0]!, () =>
          this.#client.send(new BatchWriteItemCommand({ RequestItems: { [this.#table]: request } })),
        );
        pending = out.UnprocessedItems?.[this.#table] ?? [];
        return pending.length;
      }, 'writes');
    }
  }

  /** Sends `batch` (which returns how much DynamoDB left unprocessed) again after a back-off until nothing is left. */
  async #untilProcessed(batch: () => Promise<number>, what: 'keys' | 'writes'): Promise<void> {
    const left = await retry(batch, {
      attempts: MAX_UNPROCESSED_ROUNDS,
      retryAfter: (o, attempt) => (o.ok && o.value > 0 ? backoff(attempt, { baseMs: 100, maxMs: 1000 }) : undefined),
      ...(this.#sleep ? { sleep: this.#sleep } : {}),
    });
    if (left > 0) throw new SigwatchError('INTERNAL', `verdict store: ${this.#table} left ${left} ${what} unprocessed after ${MAX_UNPROCESSED_ROUNDS} rounds`);
  }

  #toItem(r: VerdictRecord): Record<string, AttributeValue> {
    const reasons = r.reasons.slice(0, MAX_REASONS).map((s) => (s.length > MAX_REASON_CHARS ? `${s.slice(0, MAX_REASON_CHARS)}…` : s));
    return {
      ...keyOf(r),
      account: { S: r.account },
      region: { S: r.region },
      repository: { S: r.repository },
      verdict: { S: r.verdict },
      reasons: { L: reasons.map((s) => ({ S: s })) },
      warnings: { L: r.warnings.map((s) => ({ S: s })) },
      time: { S: r.time },
      since: { S: r.since ?? r.time },
      policyVersions: { M: Object.fromEntries(Object.entries(r.policyVersions).map(([k, v]) => [k, { S: v }])) },
      policySetVersion: { S: r.policySetVersion },
      trigger: { S: r.trigger },
      ...(r.unverifiedRuns ? { unverifiedRuns: { N: String(r.unverifiedRuns) } } : {}),
      expiresAt: { N: String(Math.floor(this.#now() / 1000) + this.#ttlSeconds) },
    };
  }

  async #send<T>(what: 'read' | 'write', image: ImageKey, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      // The error's name and status only: DynamoDB messages can quote key values, and callers log errors.
      throw new SigwatchError(
        'INTERNAL',
        `verdict store: cannot ${what} the verdict of ${image.account}/${image.region}/${image.repository}@${image.digest} in table ${this.#table} (${awsErrorLabel(err)})`,
      );
    }
  }
}

function keyOf(image: ImageKey): Record<string, AttributeValue> {
  const { pk, sk } = verdictKey(image);
  return { pk: { S: pk }, sk: { S: sk } };
}

function itemId(k: { pk: string; sk: string }): string {
  return `${k.pk}\n${k.sk}`;
}

/** The key of an image in the map getMany returns. */
export function imageId(image: ImageKey): string {
  return itemId(verdictKey(image));
}

/** The image an item is about, from its own attributes (a scan has no key to start from). */
function imageOfItem(item: Record<string, AttributeValue>): ImageKey {
  return { account: item.account?.S ?? '', region: item.region?.S ?? '', repository: item.repository?.S ?? '', digest: item.sk?.S ?? '' };
}

function plain(item: Record<string, AttributeValue>): { pk: string; sk: string } {
  return { pk: item.pk?.S ?? '', sk: item.sk?.S ?? '' };
}

const VERDICTS: readonly StoredVerdict[] = ['admit', 'deny', 'warn', 'error'];

/**
 * An item back into a record. An item that is not one (written by another
 * version, or by hand) is reported rather than guessed at: a wrong "previous
 * verdict" would hide a change.
 */
function fromItem(item: Record<string, AttributeValue>, image: ImageKey): VerdictRecord {
  const text = (name: string) => item[name]?.S;
  const list = (name: string) => (item[name]?.L ?? []).map((v) => v.S).filter((s): s is string => s !== undefined);
  const verdict = text('verdict');
  if (!verdict || !(VERDICTS as readonly string[]).includes(verdict)) {
    throw new SigwatchError(
      'INTERNAL',
      `verdict store: the item of ${image.repository}@${image.digest} has no valid verdict (${JSON.stringify(verdict ?? null)})`,
    );
  }
  return {
    account: image.account,
    region: image.region,
    repository: image.repository,
    digest: image.digest,
    verdict: verdict as StoredVerdict,
    reasons: list('reasons'),
    warnings: list('warnings'),
    time: text('time') ?? '',
    ...(text('since') !== undefined ? { since: text('since')! } : {}),
    policyVersions: Object.fromEntries(
      Object.entries(item.policyVersions?.M ?? {})
        .filter(([, v]) => v.S !== undefined)
        .map(([k, v]) => [k, v.S!]),
    ),
    policySetVersion: text('policySetVersion') ?? '',
    trigger: text('trigger') ?? '',
    ...(Number(item.unverifiedRuns?.N) > 0 ? { unverifiedRuns: Number(item.unverifiedRuns!.N) } : {}),
  };
}
