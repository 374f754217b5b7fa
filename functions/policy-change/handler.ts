/**
 * The policy-change function's contract with Lambda: an S3 event of the
 * config bucket in, the re-verification it calls for planned. Everything
 * else is src/reverify.
 */
import type { Context } from 'aws-lambda';
import type { ReverifyRuntime } from '../../src/reverify/assemble.ts';
import { parsePolicyChangeEvent, planPolicyChange } from '../../src/reverify/policy-change.ts';

type LambdaContext = Pick<Context, 'getRemainingTimeInMillis'>;

/**
 * An S3 event of the config bucket → the re-verification it calls for. An
 * event that is not about a policy is logged and ignored; a failure throws, so
 * that EventBridge's asynchronous invocation retries it.
 */
export function policyChangeHandler(rt: ReverifyRuntime): (event: unknown, context: LambdaContext) => Promise<void> {
  return async (event, context) => {
    const parsed = parsePolicyChangeEvent(event, rt.now);
    if (!parsed.ok) {
      rt.log.error('policy-change event rejected', { reason: parsed.reason });
      return;
    }
    const plan = await planPolicyChange(parsed.change, await rt.policyChange(() => context.getRemainingTimeInMillis()));
    if (!plan) {
      rt.log.info('not a policy of any group: nothing to re-verify', { key: parsed.change.key });
      return;
    }
    rt.log.info('policy change planned', {
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
