import { PutItemCommand, QueryCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { awsErrorLabel } from '../aws-errors.ts';
import { SigwatchError } from '../errors.ts';
import type { Clock } from '../clock.ts';
import { emptyCounts, type Counts, type TrendPoint } from './posture.ts';

/**
 * The trend's memory: one item per run in the shared table
 * (`report#runs` / `<started at>#<run id>`, docs/runtime.md) with the
 * posture's totals when the run's report was made. Kept longer than run
 * items (which expire after 14 days), so the trend reaches back further than
 * the runs' own records. A retried report of the same run writes the same key.
 */

const PK = 'report#runs';
const HISTORY_TTL_DAYS = 400;
/** Runs on the trend unless asked otherwise. */
export const DEFAULT_TREND_RUNS = 30;
const COUNT_KEYS = ['images', 'admit', 'deny', 'warn', 'error'] as const;

export class RunHistory {
  readonly #client: DynamoDBClient;
  readonly #table: string;
  readonly #now: Clock;

  constructor(client: DynamoDBClient, table: string, opts: { now: Clock }) {
    this.#client = client;
    this.#table = table;
    this.#now = opts.now;
  }

  async record(point: TrendPoint): Promise<void> {
    await this.#send('record', () =>
      this.#client.send(
        new PutItemCommand({
          TableName: this.#table,
          Item: {
            pk: { S: PK },
            sk: { S: `${point.at}#${point.runId}` },
            runId: { S: point.runId },
            at: { S: point.at },
            ...Object.fromEntries(COUNT_KEYS.map((k) => [k, { N: String(point.counts[k]) }])),
            expiresAt: { N: String(Math.floor(this.#now() / 1000) + HISTORY_TTL_DAYS * 86_400) },
          },
        }),
      ),
    );
  }

  /** The last `n` runs' totals, oldest first. */
  async recent(n = DEFAULT_TREND_RUNS): Promise<TrendPoint[]> {
    const out = await this.#send('read', () =>
      this.#client.send(
        new QueryCommand({
          TableName: this.#table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': { S: PK } },
          ScanIndexForward: false,
          Limit: n,
        }),
      ),
    );
    return (out.Items ?? []).map(pointOf).reverse();
  }

  async #send<T>(what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      throw new SigwatchError('INTERNAL', `run history: cannot ${what} the report history in table ${this.#table} (${awsErrorLabel(err)})`);
    }
  }
}

function pointOf(item: Record<string, AttributeValue>): TrendPoint {
  const counts: Counts = emptyCounts();
  for (const k of COUNT_KEYS) counts[k] = Number(item[k]?.N ?? '0');
  return { runId: item.runId?.S ?? '', at: item.at?.S ?? '', counts };
}
