import { deadline, remainingMs, type BatchBudget } from '../deadline.ts';
import { reasonOf } from '../errors.ts';
import { processPartialResponse, type PartialBatchResult } from '../partial-batch.ts';
import { parseReverifyMessage, type ReverifyMessage } from './messages.ts';
import type { Logger } from '../observability/log.ts';
import { continuePlan, type PlannerDeps } from './planner.ts';
import { verifyBatch, type WorkerDeps } from './worker.ts';

/**
 * The reverify queue's records: `images` go to the worker, `plan` (a listing
 * continued from another invocation) to the planner. A malformed record is
 * logged and failed alone (it reaches the DLQ after its receives); a record
 * whose work threw is failed alone and retried.
 */

export interface QueueRecord {
  messageId: string;
  body: string;
}

export interface DispatchDeps {
  /** Built once per invocation that has `images` records: the configuration and policies are read once per batch. */
  worker: () => Promise<WorkerDeps>;
  /** Built only when a `plan` record arrives: it needs the listing's clients. */
  planner: () => Promise<PlannerDeps>;
  log: Logger;
}

/**
 * `budget`: the invocation's time for its records; each `images` record gets
 * an equal share of what is left when it starts (see verifyBatch).
 */
export async function processReverifyRecords(records: readonly QueueRecord[], deps: DispatchDeps, budget?: BatchBudget): Promise<PartialBatchResult> {
  const rejected: string[] = [];
  const accepted: (QueueRecord & { message: ReverifyMessage })[] = [];
  for (const record of records) {
    const parsed = parseReverifyMessage(record.body);
    if (parsed.ok) accepted.push({ ...record, message: parsed.message });
    else {
      deps.log.error('reverify message rejected', { messageId: record.messageId, reason: parsed.reason });
      rejected.push(record.messageId);
    }
  }
  let worker: Promise<WorkerDeps> | undefined;
  // One record after another: each already verifies its images concurrently, and a
  // batch of messages for one repository should not multiply the load on its registry.
  const { failedMessageIds } = await processPartialResponse(
    accepted,
    async ({ message: m }, i) => {
      const share = budget && Math.max(0, remainingMs(budget.signal)) / (accepted.length - i);
      const messageBudget = budget && share !== undefined ? { signal: deadline(share, budget.signal), ms: share } : undefined;
      if (m.kind === 'images') await verifyBatch(m, await (worker ??= deps.worker()), messageBudget);
      else await continuePlan(await deps.planner(), m);
    },
    {
      concurrency: 1,
      onFailure: ({ messageId, message: m }, err) =>
        deps.log.error('reverify message failed', { messageId, runId: m.runId, kind: m.kind, account: m.account, region: m.region, reason: reasonOf(err) }),
    },
  );
  return { failedMessageIds: [...rejected, ...failedMessageIds] };
}
