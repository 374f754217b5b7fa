import type { Context, EventBridgeEvent, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { budget } from '../deadline.ts';
import type { ReverifyRuntime } from './assemble.ts';
import { processReverifyRecords } from './dispatch.ts';
import { planTargets, startRun } from './planner.ts';
import { parsePolicyChangeEvent, planPolicyChange } from './policy-change.ts';

/**
 * The three functions' contracts with Lambda, over an assembled runtime:
 * what each takes from its event and what it answers. functions/* only read
 * the environment and export these.
 */

type LambdaContext = Pick<Context, 'getRemainingTimeInMillis'>;

const WORKER_RECORDS_RESERVE_MS = 20_000;
/** Kept back from the worker's remaining time for storing verdicts, the ledger and the run's summaries. */
export const WORKER_PUBLISH_MARGIN_MS = 20_000;

/**
 * The schedule's event → a run over every associated account. The run id
 * comes from the event's time, so that a retried delivery of the same
 * schedule continues the same run instead of starting a second one.
 */
export function plannerHandler(rt: ReverifyRuntime): (event: Partial<EventBridgeEvent<string, unknown>>, context: LambdaContext) => Promise<void> {
  return async (event, context) => {
    const deps = await rt.planner(() => context.getRemainingTimeInMillis());
    const time = typeof event.time === 'string' && !Number.isNaN(Date.parse(event.time)) ? new Date(event.time) : new Date(rt.now());
    const runId = `reverify-${time.toISOString().replace(/[-:]|\.\d+/g, '')}`;
    await startRun(deps, { runId, trigger: 'reverify', targets: planTargets(deps.config) });
  };
}

/** The reverify queue's batches: images to verify, listings to continue; failed records retried alone. */
export function workerHandler(
  rt: ReverifyRuntime,
  opts: { publishMarginMs?: number } = {},
): (event: SQSEvent, context: LambdaContext) => Promise<SQSBatchResponse> {
  return async (event, context) => {
    // Images end at their share of this; the invocation never times out on a registry that hangs.
    const records = budget(Math.max(0, context.getRemainingTimeInMillis() - (opts.publishMarginMs ?? WORKER_PUBLISH_MARGIN_MS)));
    const { failedMessageIds } = await processReverifyRecords(
      event.Records.map((r) => ({ messageId: r.messageId, body: r.body })),
      // A continued listing leaves time for the batch's other records (the worker's timeout is short).
      { worker: () => rt.worker(), planner: () => rt.planner(() => context.getRemainingTimeInMillis() - WORKER_RECORDS_RESERVE_MS), log: rt.log },
      records,
    );
    return { batchItemFailures: failedMessageIds.map((itemIdentifier) => ({ itemIdentifier })) };
  };
}

/**
 * An S3 event of the config bucket → the re-verification it calls for. An
 * event that is not about a policy is logged and ignored; a failure throws, so
 * that EventBridge's asynchronous invocation retries it.
 */
export function policyChangeHandler(rt: ReverifyRuntime): (event: unknown, context: LambdaContext) => Promise<void> {
  return async (event, context) => {
    const parsed = parsePolicyChangeEvent(event, rt.now);
    if (!parsed.ok) {
      rt.log({ level: 'error', message: 'policy-change event rejected', reason: parsed.reason });
      return;
    }
    const plan = await planPolicyChange(parsed.change, await rt.policyChange(() => context.getRemainingTimeInMillis()));
    if (!plan) {
      rt.log({ level: 'info', message: 'not a policy of any group: nothing to re-verify', key: parsed.change.key });
      return;
    }
    rt.log({
      level: 'info',
      message: 'policy change planned',
      key: parsed.change.key,
      kind: parsed.change.kind,
      runId: plan.runId,
      groups: plan.groups,
      globs: plan.globs,
      targets: plan.targets,
      images: plan.stats.images,
    });
  };
}
