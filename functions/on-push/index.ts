/**
 * On-push Lambda: SQS batches of ECR push events in, verdicts out, failed
 * records reported for retry. Everything else lives in src/pipeline.
 */
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { parseIncoming } from '../../src/events/envelope.ts';
import { handlePushBatch } from '../../src/pipeline/on-push.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { openPolicySource } from '../../src/store/source.ts';

// Module scope: reused by every invocation of a warm function.
const registry = new RegistryClient();
// Reloaded per invocation: the S3 store re-lists and only fetches changed objects.
const policies = openPolicySource(process.env.SIGWATCH_POLICIES ?? 'policies');

const log = (entry: Record<string, unknown>) => console.log(JSON.stringify({ function: 'on-push', ...entry }));

export const handler = async (event: SQSEvent): Promise<SQSBatchResponse> => {
  const { failedMessageIds } = await handlePushBatch(parseIncoming(event), {
    policies: () => policies.load(),
    registry: (ref) => registry.repository(ref),
    publish: async (verdict, e) => log({ level: 'info', message: 'verdict', account: e.account, region: e.region, verdict }),
    log,
  });
  return { batchItemFailures: failedMessageIds.map((itemIdentifier) => ({ itemIdentifier })) };
};
