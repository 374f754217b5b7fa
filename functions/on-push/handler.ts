/**
 * The on-push Lambda's contract with SQS: a batch in, the ids of the records
 * to retry out (ReportBatchItemFailures). Everything else is src/pipeline.
 */
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { deadline } from '../../src/deadline.ts';
import { parseIncoming } from '../../src/events/envelope.ts';
import { handlePushBatch, type OnPushDeps } from '../../src/pipeline/on-push.ts';
import { batchResponse } from '../batch-response.ts';

/** Kept back from the invocation's remaining time for publishing and reporting failures (docs/deploy.md). */
export const DEFAULT_PUBLISH_MARGIN_MS = 10_000;

export function onPushHandler(
  deps: OnPushDeps,
  opts: { publishMarginMs?: number } = {},
): (event: SQSEvent, context?: Pick<Context, 'getRemainingTimeInMillis'>) => Promise<SQSBatchResponse> {
  const margin = opts.publishMarginMs ?? DEFAULT_PUBLISH_MARGIN_MS;
  return async (event, context) => {
    // The batch's deadline comes from the invocation's: records end before Lambda would kill them all.
    const ms = context ? Math.max(0, context.getRemainingTimeInMillis() - margin) : undefined;
    const budget = ms === undefined ? undefined : { signal: deadline(ms), ms };
    try {
      return batchResponse(await handlePushBatch(parseIncoming(event), deps, budget));
    } finally {
      deps.metrics.flush();
    }
  };
}
