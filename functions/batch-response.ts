import type { SQSBatchResponse } from 'aws-lambda';
import type { PartialBatchResult } from '../src/partial-batch.ts';

/** The records to redeliver, as Lambda's SQS event source reads them (ReportBatchItemFailures). */
export function batchResponse({ failedMessageIds }: PartialBatchResult): SQSBatchResponse {
  return { batchItemFailures: failedMessageIds.map((itemIdentifier) => ({ itemIdentifier })) };
}
