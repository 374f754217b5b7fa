import { SigwatchError } from '../errors.ts';
import { isLogLevel, type LogLevel } from '../observability/log.ts';

/**
 * The deployed functions' settings (docs/runtime.md), read and checked once at
 * cold start: a missing or malformed variable stops the function with a
 * message naming it, rather than a verdict computed with a guess.
 */

export interface Environment {
  configBucket: string;
  configKey: string;
  table?: string;
  pushQueueUrl?: string;
  reverifyQueueUrl?: string;
  graceSeconds: number;
  sourceIdentity: string;
  logLevel: LogLevel;
  /** Key prefix in the config bucket of the posture reports re-verification writes (`reports/` unless set). */
  reportsPrefix?: string;
  /** On-push: the receive at which "could not verify" is reported as `error` rather than retried. */
  unverifiedAttempts: number;
  /** Re-verification: runs an admitted image must fail to be verified before the error is published. */
  errorRuns: number;
  /**
   * `awskms://ENDPOINT/…` endpoints other than AWS's own that KMS requests
   * (signed with the session) may go to: `HOST[:PORT]` each, from
   * SIGWATCH_KMS_ENDPOINTS (comma-separated); none unless set.
   */
  kmsEndpoints: string[];
}

const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const QUEUE_URL_RE = /^https:\/\/sqs\.[a-z0-9-]+\.amazonaws\.com(\.cn)?\/\d{12}\/[\w-]{1,80}(\.fifo)?$/;
const TABLE_RE = /^[\w.-]{3,255}$/;
const SOURCE_IDENTITY_RE = /^[\w+=,.@-]{2,64}$/;
/** `HOST[:PORT]` as it stands in an `awskms://HOST:PORT/…` reference (a bracketed IPv6 address too). */
const KMS_ENDPOINT_RE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(?::\d{1,5})?$/;
/** A day: longer than any signing pipeline takes, short enough to notice. */
const MAX_GRACE_SECONDS = 86_400;

type Env = Record<string, string | undefined>;

export function readEnvironment(env: Env, required: { table?: boolean; pushQueue?: boolean; reverifyQueue?: boolean } = {}): Environment {
  const problems: string[] = [];
  const get = (name: string, re: RegExp, what: string, needed: boolean, fallback?: string): string | undefined => {
    const value = env[name] ?? fallback;
    if (value === undefined || value === '') {
      if (needed) problems.push(`${name}: missing (${what})`);
      return undefined;
    }
    if (!re.test(value)) problems.push(`${name}: expected ${what}`);
    return value;
  };
  const configBucket = get('SIGWATCH_CONFIG_BUCKET', BUCKET_RE, 'an S3 bucket name', true);
  const configKey = get('SIGWATCH_CONFIG_KEY', /^[^\s]{1,1024}$/, 'an S3 key', true, 'config/sigwatch.yaml');
  const table = get('SIGWATCH_TABLE', TABLE_RE, 'a DynamoDB table name', required.table ?? false);
  const pushQueueUrl = get('SIGWATCH_PUSH_QUEUE_URL', QUEUE_URL_RE, 'an SQS queue URL', required.pushQueue ?? false);
  const reverifyQueueUrl = get('SIGWATCH_REVERIFY_QUEUE_URL', QUEUE_URL_RE, 'an SQS queue URL', required.reverifyQueue ?? false);
  const grace = get('SIGWATCH_GRACE_SECONDS', /^\d{1,6}$/, `whole seconds from 0 to ${MAX_GRACE_SECONDS}`, false, '600');
  if (grace !== undefined && Number(grace) > MAX_GRACE_SECONDS) problems.push(`SIGWATCH_GRACE_SECONDS: expected whole seconds from 0 to ${MAX_GRACE_SECONDS}`);
  const sourceIdentity = get('SIGWATCH_SOURCE_IDENTITY', SOURCE_IDENTITY_RE, '2 to 64 of [A-Za-z0-9_+=,.@-]', false, 'sigwatch');
  const reportsPrefix = get('SIGWATCH_REPORTS_PREFIX', /^(?:[A-Za-z0-9][A-Za-z0-9._-]*\/)+$/, 'a key prefix ending in /, such as reports/', false);
  const attempts = get('SIGWATCH_UNVERIFIED_ATTEMPTS', /^[1-9]\d?$/, 'a whole number from 1 to 99', false, '3');
  const errorRuns = get('SIGWATCH_ERROR_RUNS', /^[1-9]\d?$/, 'a whole number from 1 to 99', false, '2');
  const kmsEndpoints = (env.SIGWATCH_KMS_ENDPOINTS ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  const badEndpoint = kmsEndpoints.find((e) => !KMS_ENDPOINT_RE.test(e));
  if (badEndpoint !== undefined) problems.push(`SIGWATCH_KMS_ENDPOINTS: expected comma-separated HOST[:PORT] entries, got "${badEndpoint.slice(0, 80)}"`);
  const logLevel = env.SIGWATCH_LOG_LEVEL ?? 'info';
  if (!isLogLevel(logLevel)) problems.push('SIGWATCH_LOG_LEVEL: expected debug, info, warn or error');
  if (problems.length > 0) throw new SigwatchError('CONFIG', `environment: ${problems.join('; ')}`);
  return {
    configBucket: configBucket!,
    configKey: configKey!,
    ...(table ? { table } : {}),
    ...(pushQueueUrl ? { pushQueueUrl } : {}),
    ...(reverifyQueueUrl ? { reverifyQueueUrl } : {}),
    graceSeconds: Number(grace),
    sourceIdentity: sourceIdentity!,
    logLevel: logLevel as LogLevel,
    ...(reportsPrefix ? { reportsPrefix } : {}),
    unverifiedAttempts: Number(attempts),
    errorRuns: Number(errorRuns),
    kmsEndpoints,
  };
}
