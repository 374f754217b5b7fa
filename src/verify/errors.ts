import { VerificationError as SigstoreVerificationError, PolicyError as SigstorePolicyError } from '@sigstore/verify';
import { SigwatchError } from '../errors.ts';

/**
 * How evidence fails: the image was read and the evidence judged, and it does
 * not hold (a deny on the evidence), as opposed to a SigwatchError on the way
 * (a registry that does not answer, a deadline: "could not verify"). Codes in
 * the style of sigstore-js's `VerificationError`; when `@sigstore/verify`
 * made the judgement its own code is carried as `sigstoreCode`, not
 * flattened into the message.
 */
export type VerificationErrorCode =
  | 'NO_EVIDENCE' // no signature, attestation or bundle the authority can use
  | 'EVIDENCE_MALFORMED' // a signature object, envelope, statement or bundle that cannot be read
  | 'SUBJECT_MISMATCH' // signed, but for another image (digest, identity, payload type)
  | 'SIGNATURE_INVALID' // the signature does not verify with the key or certificate
  | 'IDENTITY_MISMATCH' // the certificate's issuer/subject is not one the authority accepts
  | 'UNTRUSTED_CHAIN' // the certificate does not chain to the trust root at the signing time
  | 'TLOG' // transparency-log evidence missing or invalid
  | 'TIMESTAMP' // timestamp evidence missing or invalid
  | 'SCT' // certificate-transparency evidence missing or invalid
  | 'KEY_UNSUPPORTED' // a key or algorithm cosign itself would refuse
  | 'POLICY_FAILED' // an attestation or spec policy (CUE, Rego) rejected the evidence
  | 'POLICY_UNSUPPORTED'; // a policy that cannot be evaluated here (fails closed)

export class VerificationError extends SigwatchError<VerificationErrorCode> {
  /** `@sigstore/verify`'s code when the library made the judgement (e.g. `TLOG_INCLUSION_PROOF_ERROR`). */
  readonly sigstoreCode?: string;
  constructor(code: VerificationErrorCode, message: string, options: { cause?: unknown; sigstoreCode?: string } = {}) {
    super(code, message, { cause: options.cause });
    this.name = 'VerificationError';
    if (options.sigstoreCode !== undefined) this.sigstoreCode = options.sigstoreCode;
  }
}

const FROM_SIGSTORE: Readonly<Record<string, VerificationErrorCode>> = {
  TLOG_ERROR: 'TLOG',
  TLOG_INCLUSION_PROOF_ERROR: 'TLOG',
  TLOG_INCLUSION_PROMISE_ERROR: 'TLOG',
  TLOG_MISSING_INCLUSION_ERROR: 'TLOG',
  TLOG_BODY_ERROR: 'TLOG',
  CERTIFICATE_ERROR: 'UNTRUSTED_CHAIN',
  PUBLIC_KEY_ERROR: 'SIGNATURE_INVALID',
  SIGNATURE_ERROR: 'SIGNATURE_INVALID',
  TIMESTAMP_ERROR: 'TIMESTAMP',
  UNTRUSTED_SIGNER_ERROR: 'IDENTITY_MISMATCH',
  NOT_IMPLEMENTED_ERROR: 'KEY_UNSUPPORTED',
};

/**
 * `@sigstore/verify`'s errors as ours, keeping its code; anything else is
 * returned as it is (a bug or an operational failure is not a judgement of
 * the evidence, and must not turn into one).
 */
export function fromSigstore(err: unknown): unknown {
  if (err instanceof SigstoreVerificationError || err instanceof SigstorePolicyError) {
    return new VerificationError(FROM_SIGSTORE[err.code] ?? 'SIGNATURE_INVALID', `${err.code}: ${err.message}`, { cause: err, sigstoreCode: err.code });
  }
  return err;
}

/** Runs `fn`, turning `@sigstore/verify`'s errors into VerificationErrors. */
export function withSigstoreCodes<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromSigstore(err);
  }
}
