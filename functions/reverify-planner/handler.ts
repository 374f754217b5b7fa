/**
 * The reverify planner's contract with Lambda, over an assembled runtime: the
 * schedule's event in, a run started. Everything else is src/reverify.
 */
import type { Context, EventBridgeEvent } from 'aws-lambda';
import type { ReverifyRuntime } from '../../src/reverify/assemble.ts';
import { planTargets, startRun } from '../../src/reverify/planner.ts';

type LambdaContext = Pick<Context, 'getRemainingTimeInMillis'>;

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
