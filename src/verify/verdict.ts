/**
 * The outcome of evaluating an image against a policy set, shaped as the
 * CLI contract's JSON so that the CLI, the notifier and the tests share it.
 */

import type { ErrorCode } from '../errors.ts';

export type Decision = 'admit' | 'deny' | 'warn';

/**
 * Why no verdict could be reached ("could not verify"), as opposed to a deny
 * on the evidence: `DEADLINE` (the time budget ran out while something was
 * still waiting), `REGISTRY_UNREACHABLE` (no answer, or 429/5xx after retries).
 * The decision stays `deny` (fail closed); this says the deny is not a
 * judgement of the image, so that on-push retries it and reports `error`.
 */
export interface VerdictError {
  code: ErrorCode;
  message: string;
}

export interface SignerIdentity {
  issuer?: string;
  subject?: string;
  /** For key authorities: which key (a hint, never secret material). */
  key?: string;
}

export interface VerifiedSignature {
  /** Digest of the signature object (manifest layer or bundle). */
  digest: string;
  identity: SignerIdentity;
}

export interface AuthorityResult {
  name: string;
  verdict: 'pass' | 'fail';
  reason: string;
  signatures: VerifiedSignature[];
  /** Set when the authority could not be checked at all (its evidence could not be read in time). */
  error?: VerdictError;
}

export interface PolicyResult {
  name: string;
  mode: 'enforce' | 'warn';
  verdict: 'pass' | 'fail';
  authorities: AuthorityResult[];
  /** Why the policy failed, when no authority explains it (e.g. spec.policy). */
  reason?: string;
  /** Where the policy was read from, and which version of that object: verdicts are reproducible. */
  source?: { file: string; version?: string };
  /** What a reader must know about how the policy was applied (e.g. `match` is not applied). */
  notes?: string[];
}

export interface Verdict {
  image: string;
  digest: string;
  verdict: Decision;
  policies: PolicyResult[];
  reasons: string[];
  /** Set when the deny is "could not verify": see VerdictError. */
  error?: VerdictError;
}

/**
 * Whether a deny is "could not verify": every enforcing policy that failed has
 * an authority that could not be checked (had it been, the policy might have
 * passed). A deny with one policy failed on its evidence alone is a real deny.
 */
export function unverifiedCause(policies: readonly PolicyResult[], decision: Decision): VerdictError | undefined {
  if (decision !== 'deny') return undefined;
  const failed = policies.filter((p) => p.mode === 'enforce' && p.verdict === 'fail');
  let first: VerdictError | undefined;
  for (const p of failed) {
    const cause = p.authorities.find((a) => a.error)?.error;
    if (!cause) return undefined;
    first ??= cause;
  }
  return first;
}

/** Why no verification was even attempted (configuration, access): what on-push and re-verification hand on instead of a Verdict. */
export interface NoVerdict {
  error: string;
  /** The cause's code, when it has one (a deadline that passed before the image was read). */
  code?: ErrorCode;
}

export function isNoVerdict(v: Verdict | NoVerdict): v is NoVerdict {
  return typeof v.error === 'string';
}
