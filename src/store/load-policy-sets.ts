import { SigwatchError } from '../errors.ts';

type PolicySetModule = typeof import('./policy-set.ts');

let loading: Promise<PolicySetModule> | undefined;

/**
 * The policy parser and validator (YAML documents, Go regexps and globs),
 * imported when the first policy set is built: the build puts it in chunks of
 * its own, so a function's cold start does not compile it. A failed import is
 * not kept: the next set built tries again.
 */
export function loadPolicySets(): Promise<PolicySetModule> {
  loading ??= import('./policy-set.ts').catch((err: unknown) => {
    loading = undefined;
    throw new SigwatchError('INTERNAL', `cannot load the policy code: ${(err as Error).message}`, { cause: err });
  });
  return loading;
}
