import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { SigwatchError } from '../errors.ts';
import type { Clock } from '../clock.ts';

/**
 * "Publish once" for at-least-once delivery. EventBridge and SQS may deliver an
 * event twice, and two Lambdas may hold the same image at once (a push and its
 * signature's push); each verdict key is claimed with a conditional write before
 * the message goes out, marked done after, and released if the publish fails.
 *
 * A claim left `in-progress` by a function that died mid-publish expires after
 * `inProgressMs`, so the retried record can take it over: a verdict is delayed,
 * never lost. This is the record lifecycle of Powertools' idempotency utility,
 * on sigwatch's own table (docs/runtime.md) and keyed by what the verdict is
 * about rather than by a payload hash.
 */

export type ClaimResult = 'claimed' | 'done' | 'in-progress';

export interface IdempotencyStore {
  /** Claims `key`; `done` when its message was already published, `in-progress` when another holds it. */
  claim(key: string): Promise<ClaimResult>;
  complete(key: string): Promise<void>;
  release(key: string): Promise<void>;
}

export interface DynamoIdempotencyOptions {
  client: DynamoDBClient;
  table: string;
  /** How long a published key is remembered (TTL); 24 hours by default. */
  ttlSeconds?: number;
  /** How long an unfinished claim blocks others; 2 minutes by default (over a publish's worst case). */
  inProgressMs?: number;
  now: Clock;
}

const SK = '-';

export class DynamoIdempotencyStore implements IdempotencyStore {
  readonly #client: DynamoDBClient;
  readonly #table: string;
  readonly #ttlSeconds: number;
  readonly #inProgressMs: number;
  readonly #now: Clock;

  constructor(opts: DynamoIdempotencyOptions) {
    this.#client = opts.client;
    this.#table = opts.table;
    this.#ttlSeconds = opts.ttlSeconds ?? 24 * 3600;
    this.#inProgressMs = opts.inProgressMs ?? 120_000;
    this.#now = opts.now;
  }

  async claim(key: string): Promise<ClaimResult> {
    const now = this.#now();
    try {
      await this.#client.send(
        new PutItemCommand({
          TableName: this.#table,
          Item: {
            pk: { S: key },
            sk: { S: SK },
            status: { S: 'in-progress' },
            until: { N: String(now + this.#inProgressMs) },
            expiresAt: { N: String(Math.ceil(now / 1000) + this.#ttlSeconds) },
          },
          // Free, or an abandoned claim: the last holder died before publishing.
          ConditionExpression: 'attribute_not_exists(pk) OR (#s = :inProgress AND #u < :now)',
          ExpressionAttributeNames: { '#s': 'status', '#u': 'until' },
          ExpressionAttributeValues: { ':inProgress': { S: 'in-progress' }, ':now': { N: String(now) } },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return 'claimed';
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException || (err as { name?: string }).name === 'ConditionalCheckFailedException') {
        // DynamoDB returns the holder's item; an implementation without ReturnValuesOnConditionCheckFailure is asked.
        const status = (err as ConditionalCheckFailedException).Item?.status?.S ?? (await this.#status(key));
        return status === 'done' ? 'done' : 'in-progress';
      }
      throw dynamoError('claim', err);
    }
  }

  async #status(key: string): Promise<string | undefined> {
    try {
      const res = await this.#client.send(new GetItemCommand({ TableName: this.#table, Key: { pk: { S: key }, sk: { S: SK } }, ConsistentRead: true }));
      return res.Item?.status?.S;
    } catch (err) {
      throw dynamoError('claim', err);
    }
  }

  async complete(key: string): Promise<void> {
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#table,
          Key: { pk: { S: key }, sk: { S: SK } },
          UpdateExpression: 'SET #s = :done REMOVE #u',
          ExpressionAttributeNames: { '#s': 'status', '#u': 'until' },
          ExpressionAttributeValues: { ':done': { S: 'done' } },
        }),
      );
    } catch (err) {
      // The message is out; at worst a redelivery inside the claim window waits, then publishes again.
      throw dynamoError('complete', err);
    }
  }

  async release(key: string): Promise<void> {
    try {
      await this.#client.send(new DeleteItemCommand({ TableName: this.#table, Key: { pk: { S: key }, sk: { S: SK } } }));
    } catch (err) {
      throw dynamoError('release', err);
    }
  }
}

/** In memory, for local runs: one process, so a Set is the whole story. */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #states = new Map<string, 'in-progress' | 'done'>();

  async claim(key: string): Promise<ClaimResult> {
    const state = this.#states.get(key);
    if (state) return state;
    this.#states.set(key, 'in-progress');
    return 'claimed';
  }

  async complete(key: string): Promise<void> {
    this.#states.set(key, 'done');
  }

  async release(key: string): Promise<void> {
    this.#states.delete(key);
  }
}

function dynamoError(step: string, err: unknown): SigwatchError {
  const name = (err as { name?: string }).name;
  return new SigwatchError('INTERNAL', `idempotency ${step} failed (${name && /^[A-Za-z][\w.]*$/.test(name) ? name : 'Error'})`);
}
