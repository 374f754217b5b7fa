/**
 * How sigwatch reads an AWS SDK v3 error: by its name and HTTP status, never
 * by its message. AWS messages can quote the signed request (a
 * SignatureDoesNotMatch carries the canonical request, session token
 * included) or the values they reject (an ExternalId), and callers log errors.
 */

interface AwsErrorShape {
  name?: unknown;
  code?: unknown;
  $metadata?: { httpStatusCode?: number; requestId?: string };
  $retryable?: { throttling?: boolean };
}

/** What kind of failure an AWS call ended in, as far as the caller must act on it. */
export type AwsFailure = 'throttled' | 'access-denied' | 'no-credentials' | 'unavailable' | 'rejected';

const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'KMSThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'ProvisionedThroughputExceededException',
  'SlowDown',
]);
const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException']);

function shape(err: unknown): AwsErrorShape {
  return typeof err === 'object' && err !== null ? (err as AwsErrorShape) : {};
}

function nameOf(e: AwsErrorShape): string {
  return typeof e.name === 'string' ? e.name : '';
}

/** By the SDK's error name and status; an error without an HTTP status never reached AWS (network, timeout). */
export function awsFailureOf(err: unknown): AwsFailure {
  const e = shape(err);
  const status = e.$metadata?.httpStatusCode;
  if (THROTTLING.has(nameOf(e)) || status === 429 || e.$retryable?.throttling) return 'throttled';
  if (ACCESS_DENIED.has(nameOf(e))) return 'access-denied';
  if (nameOf(e) === 'CredentialsProviderError') return 'no-credentials';
  if (status === undefined || status >= 500 || e.$retryable) return 'unavailable';
  return 'rejected';
}

/** Throttling, server faults and lost connections may pass on a retry; a refusal (auth, a bad argument) will not. */
export function isTransientAws(err: unknown): boolean {
  const failure = awsFailureOf(err);
  return failure === 'throttled' || failure === 'unavailable';
}

/** The SDK's error name (`NoSuchKey`, `ConditionalCheckFailedException`), or '' for anything else thrown. */
export function awsErrorName(err: unknown): string {
  return nameOf(shape(err));
}

/**
 * `AccessDeniedException, HTTP 400, request 8f1c…`: enough to find the call
 * in CloudTrail, and never the service's message. A call that never reached
 * AWS is named by its socket code (`ECONNREFUSED`).
 */
export function awsErrorLabel(err: unknown): string {
  const e = shape(err);
  const status = e.$metadata?.httpStatusCode;
  const name = /^[A-Za-z][\w.]{0,80}$/.test(nameOf(e)) ? nameOf(e) : 'Error';
  const parts = [status === undefined && typeof e.code === 'string' && /^[A-Z][A-Z_]{1,40}$/.test(e.code) ? e.code : name];
  if (status !== undefined) parts.push(`HTTP ${status}`);
  if (e.$metadata?.requestId) parts.push(`request ${e.$metadata.requestId}`);
  return parts.join(', ');
}
