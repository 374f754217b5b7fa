/**
 * The reverify worker's contract with SQS: a batch of the reverify queue in,
 * the ids of the records to retry out (ReportBatchItemFailures). Everything
 * else is src/reverify.
 */
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { budget } from '../../src/deadline.ts';
import type { ReverifyRuntime } from '../../src/reverify/assemble.ts';
import { processReverifyRecords } from '../../src/reverify/dispatch.ts';
import { batchResponse } from '../batch-response.ts';

type LambdaContext = Pick<Context, 'getRemainingTimeInMillis'>;

const WORKER_RECORDS_RESERVE_MS = 20_000;
/** Kept back from the worker's remaining time for storing verdicts, the ledger and the run's summaries. */
export const WORKER_PUBLISH_MARGIN_MS = 20_000;

/** The reverify queue's batches: images to verify, listings to continue; failed records retried alone. */
export function workerHandler(
  rt: ReverifyRuntime,
  opts: { publishMarginMs?: number } = {},
): (event: SQSEvent, context: LambdaContext) => Promise<SQSBatchResponse> {
  return async (event, context) => {
    // Images end at their share of this; the invocation never times out on a registry that hangs.
    const records = budget(Math.max(0, context.getRemainingTimeInMillis() - (opts.publishMarginMs ?? WORKER_PUBLISH_MARGIN_MS)));
    const result = await processReverifyRecords(
      event.Records.map((r) => ({ messageId: r.messageId, body: r.body })),
      // A continued listing leaves time for the batch's other records (the worker's timeout is short).
      { worker: () => rt.worker(), planner: () => rt.planner(() => context.getRemainingTimeInMillis() - WORKER_RECORDS_RESERVE_MS), log: rt.log },
      records,
    );
    return batchResponse(result);
  };
}
