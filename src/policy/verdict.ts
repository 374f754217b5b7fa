/**
 * The outcome of evaluating an image against a policy set, shaped as the
 * CLI contract's JSON so that the CLI, the notifier and the tests share it.
 */

export type Decision = 'admit' | 'deny' | 'warn';

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
}
