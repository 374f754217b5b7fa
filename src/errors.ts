/**
 * Every failure on the way to a verdict is a SigwatchError with a stable code,
 * so that callers decide by code (deny, error verdict, retry, usage error)
 * and never by parsing messages. Messages name what failed and where, and
 * never carry a credential. These are the operational codes ("could not
 * verify"); evidence that was read and does not hold is a VerificationError
 * (src/verify/errors.ts) with codes of its own ("verified and failed").
 */
export type ErrorCode =
  | 'USAGE' // bad command-line input
  | 'CONFIG' // bad configuration (policies, trust roots, registry config)
  | 'POLICY_INVALID' // a ClusterImagePolicy / TrustRoot failed validation
  | 'REFERENCE_INVALID' // an image reference could not be parsed
  | 'REGISTRY_UNREACHABLE' // connection refused, DNS, timeout
  | 'AWS_UNAVAILABLE' // an AWS service (STS, Secrets Manager) throttled or could not be reached
  | 'DEADLINE' // the verification's time budget ran out while something was still waiting
  | 'REGISTRY_AUTH' // 401/403 after trying the credentials we have
  | 'REGISTRY_NOT_FOUND' // manifest or blob unknown
  | 'REGISTRY_PROTOCOL' // an answer that breaks the distribution spec
  | 'DIGEST_MISMATCH' // content does not hash to the digest that named it
  | 'TOO_LARGE' // a manifest or blob over its size cap
  | 'EVIDENCE_BUDGET' // an image's evidence over what one verification may read (bytes, reads): a deny
  | 'LAYOUT_INVALID' // an OCI image layout folder that is not one
  | 'TRUST_ROOT' // trust material that cannot be loaded or does not verify (TUF metadata, mirrors, archives)
  | 'POLICY_ENGINE' // a policy engine (CUE, Rego) or a remote policy that cannot be loaded or fetched
  | 'CLAIMED' // another invocation holds this record's idempotency claim: retried once it expires
  | 'INTERNAL'; // a bug: an invariant of sigwatch's own code does not hold

/** Codes `C` beyond the operational ones: `src/verify/errors.ts`'s VerificationError has its own. */
export class SigwatchError<C extends string = ErrorCode> extends Error {
  readonly code: C;
  /** The HTTP status of the answer that caused it, when one did: callers tell a refusal from silence by it, not by the message. */
  readonly status?: number;
  constructor(code: C, message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SigwatchError';
    this.code = code;
    if (options?.status !== undefined) this.status = options.status;
  }
}

/** A reason string for any thrown value, safe to put in a verdict. */
export function reasonOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * Errors that mean "could not verify" (the `error` verdict, retried later),
 * as opposed to evidence that failed (a deny) or a configuration to fix: a
 * deadline that passed, a registry that could not be reached or answered
 * 429/5xx after its retries, an AWS service that throttled or was down.
 */
export function isUnavailable(err: unknown): err is SigwatchError {
  return err instanceof SigwatchError && (err.code === 'DEADLINE' || err.code === 'REGISTRY_UNREACHABLE' || err.code === 'AWS_UNAVAILABLE');
}
