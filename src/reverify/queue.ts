import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';
import { SigwatchError } from '../errors.ts';
import { backoffDelay, sleep as defaultSleep } from './backoff.ts';
import type { ReverifyMessage } from './messages.ts';

/**
 * Sends reverify messages with SendMessageBatch: at most 10 entries and
 * 256 KiB (the sum of the bodies) per request, SQS's limits. Entries SQS
 * reports as failed are sent again (throttling and its own faults pass);
 * after `attempts` the send throws, so the caller's invocation fails and is
 * retried rather than losing images. Batch ids keep a resend from being counted twice.
 */

export const MAX_BATCH_ENTRIES = 10;
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
  readonly #sleep: (ms: number) => Promise<void>;
  /** SendMessageBatch requests sent, for logs and the benchmark. */
  requests = 0;

  constructor(sqs: SQSClient, queueUrl: string, opts: SqsQueueOptions = {}) {
    if (queueUrl === '') throw new SigwatchError('CONFIG', 'reverify queue: no queue URL (SIGWATCH_REVERIFY_QUEUE_URL)');
    this.#sqs = sqs;
    this.#url = queueUrl;
    this.#attempts = opts.attempts ?? 5;
    this.#sleep = opts.sleep ?? defaultSleep;
  }

  async send(messages: readonly ReverifyMessage[]): Promise<void> {
    for (const bodies of batchBodies(messages.map((m) => JSON.stringify(m)))) await this.#sendBatch(bodies);
  }

  async #sendBatch(bodies: string[]): Promise<void> {
    let entries: SendMessageBatchRequestEntry[] = bodies.map((MessageBody, i) => ({ Id: String(i), MessageBody }));
    for (let attempt = 1; ; attempt++) {
      let failed: { Id?: string; SenderFault?: boolean; Code?: string }[];
      try {
        this.requests++;
        const out = await this.#sqs.send(new SendMessageBatchCommand({ QueueUrl: this.#url, Entries: entries }));
        failed = out.Failed ?? [];
      } catch (err) {
        const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
        if (attempt >= this.#attempts) {
          throw new SigwatchError(
            'INTERNAL',
            `reverify queue: SendMessageBatch failed after ${attempt} attempts: ${e.name ?? 'Error'}${e.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : ''}`,
          );
        }
        await this.#sleep(backoffDelay(attempt));
        continue;
      }
      if (failed.length === 0) return;
      const sender = failed.find((f) => f.SenderFault);
      if (sender || attempt >= this.#attempts) {
        throw new SigwatchError(
          'INTERNAL',
          `reverify queue: ${failed.length} of ${entries.length} messages not accepted${sender ? ` (${sender.Code ?? 'sender fault'})` : ` after ${attempt} attempts`}`,
        );
      }
      const ids = new Set(failed.map((f) => f.Id));
      entries = entries.filter((e) => ids.has(e.Id));
      await this.#sleep(backoffDelay(attempt));
    }
  }
}
