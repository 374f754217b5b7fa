/**
 * The on-push Lambda's contract with SQS: a batch in, the ids of the records
 * to retry out (ReportBatchItemFailures). Everything else is src/pipeline.
 */
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { parseIncoming } from '../../src/events/envelope.ts';
import { handlePushBatch, type OnPushDeps } from '../../src/pipeline/on-push.ts';

export function onPushHandler(deps: OnPushDeps): (event: SQSEvent) => Promise<SQSBatchResponse> {
  return async (event) => {
    try {
      const { failedMessageIds } = await handlePushBatch(parseIncoming(event), deps);
      return { batchItemFailures: failedMessageIds.map((itemIdentifier) => ({ itemIdentifier })) };
    } finally {
      deps.metrics.flush();
    }
  };
}
