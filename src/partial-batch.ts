import { mapLimit } from './map-limit.ts';

/**
 * The one partial-batch mechanism, shaped like Powertools'
 * `processPartialResponse` but without Lambda's types: each record of a
 * batch is handled alone, and a record whose handler throws is reported by
 * id (SQS then redelivers only it, ReportBatchItemFailures) while the others
 * go on. functions/ turns the ids into the `batchItemFailures` answer.
 */

export interface BatchRecord {
  /** Absent for a bare event (the CLI's `invoke` of one EventBridge event): reported as "". */
  messageId?: string | undefined;
}

export interface PartialBatchOptions<R> {
  /** Records handled at once (1: in order, one after another). */
  concurrency: number;
  /** Told of each failure before it is reported, to log it with the record's context. */
  onFailure: (record: R, err: unknown) => void;
}

export interface PartialBatchResult {
  /** The records to redeliver, in the batch's order. */
  failedMessageIds: string[];
}

export async function processPartialResponse<R extends BatchRecord>(
  records: readonly R[],
  handler: (record: R, index: number) => Promise<void>,
  opts: PartialBatchOptions<R>,
): Promise<PartialBatchResult> {
  const failed = new Array<boolean>(records.length).fill(false);
  await mapLimit(records, opts.concurrency, async (record, i) => {
    try {
      await handler(record, i);
    } catch (err) {
      failed[i] = true;
      opts.onFailure(record, err);
    }
  });
  return { failedMessageIds: records.filter((_, i) => failed[i]).map((r) => r.messageId ?? '') };
}
