import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';
import { awsErrorLabel } from '../aws-errors.ts';
import { SigwatchError } from '../errors.ts';
import { backoff, retry } from '../retry.ts';
import type { ReverifyMessage } from './messages.ts';

/**
 * Sends reverify messages with SendMessageBatch: at most 10 entries and
 * 256 KiB (the sum of the bodies) per request, SQS's limits. Entries SQS
 * reports as failed are sent again (throttling and its own faults pass);
 * after `attempts` the send throws, so the caller's invocation fails and is
 * retried rather than losing images. Batch ids keep a resend from being counted twice.
 */

const MAX_BATCH_ENTRIES = 10;
export const MAX_BATCH_BYTES = 256 * 1024;

export interface QueueSender {
  send(messages: readonly ReverifyMessage[]): Promise<void>;
}

/** The bodies grouped into SendMessageBatch requests, in order; a body alone over the limit is refused. */
export function batchBodies(bodies: readonly string[]): string[][] {
  const batches: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const body of bodies) {
    const size = Buffer.byteLength(body, 'utf8');
    if (size > MAX_BATCH_BYTES) throw new SigwatchError('INTERNAL', `reverify queue: a message of ${size} bytes is over SQS's ${MAX_BATCH_BYTES}`);
    if (current.length === MAX_BATCH_ENTRIES || bytes + size > MAX_BATCH_BYTES) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(body);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

export interface SqsQueueOptions {
  attempts?: number;
  sleep?: (ms: number) => Promise<void>;
}

export class SqsQueue implements QueueSender {
  readonly #sqs: SQSClient;
  readonly #url: string;
  readonly #attempts: number;
  readonly #sleep: ((ms: number) => Promise<void>) | undefined;
  /** SendMessageBatch requests sent, for logs and the benchmark. */
  requests = 0;

  constructor(sqs: SQSClient, queueUrl: string, opts: SqsQueueOptions = {}) {
    if (queueUrl === '') throw new SigwatchError('CONFIG', 'reverify queue: no queue URL (SIGWATCH_REVERIFY_QUEUE_URL)');
    this.#sqs = sqs;
    this.#url = queueUrl;
    this.#attempts = opts.attempts ?? 5;
    this.#sleep = opts.sleep;
  }

  async send(messages: readonly ReverifyMessage[]): Promise<void> {
    for (const bodies of batchBodies(messages.map((m) => JSON.stringify(m)))) await this.#sendBatch(bodies);
  }

  async #sendBatch(bodies: string[]): Promise<void> {
    let entries: SendMessageBatchRequestEntry[] = bodies.map((MessageBody, i) => ({ Id: String(i), MessageBody }));
    let tries = 0;
    let failed: { Id?: string; SenderFault?: boolean; Code?: string }[];
    try {
      // Any failure of the request is retried, and so are entries SQS failed on its side; a sender fault will not pass.
      failed = await retry(
        async () => {
          tries++;
          this.requests++;
          const out = await this.#sqs.send(new SendMessageBatchCommand({ QueueUrl: this.#url, Entries: entries }));
          const left = out.Failed ?? [];
          const ids = new Set(left.map((f) => f.Id));
          entries = entries.filter((e) => ids.has(e.Id));
          return left;
        },
        {
          attempts: this.#attempts,
          retryAfter: (o, attempt) =>
            !o.ok || (o.value.length > 0 && !o.value.some((f) => f.SenderFault)) ? backoff(attempt, { baseMs: 200, maxMs: 10_000 }) : undefined,
          ...(this.#sleep ? { sleep: this.#sleep } : {}),
        },
      );
    } catch (err) {
      throw new SigwatchError('INTERNAL', `reverify queue: SendMessageBatch failed after ${tries} attempts (${awsErrorLabel(err)})`);
    }
    if (failed.length === 0) return;
    const sender = failed.find((f) => f.SenderFault);
    throw new SigwatchError(
      'INTERNAL',
      `reverify queue: ${failed.length} of ${bodies.length} messages not accepted${sender ? ` (${sender.Code ?? 'sender fault'})` : ` after ${tries} attempts`}`,
    );
  }
}
