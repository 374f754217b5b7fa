import { AssumeRoleCommand, type AssumeRoleCommandOutput, type STSClient } from '@aws-sdk/client-sts';
import { awsErrorLabel, awsFailureOf, type AwsFailure } from '../aws-errors.ts';
import { SigwatchError } from '../errors.ts';
import { isConfiguredAccount } from './config.ts';
import type { AccountConfig, Association } from './types.ts';
import type { Clock } from '../clock.ts';

/**
 * Credentials for a member account: STS AssumeRole into the role its
 * association names, with the association's ExternalId and sigwatch's
 * SourceIdentity, cached per account and role until shortly before they expire.
 * A warm Lambda verifies many images of one account; one session serves them all.
 */

/** Structurally an AWS SDK `AwsCredentialIdentity`: pass it as an ECR or KMS client's `credentials`. */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
}

/** Reads the ExternalId kept in a Secrets Manager secret; the caller owns the Secrets Manager client. */
export type ExternalIdResolver = (secretArn: string) => Promise<string>;

export interface AwsSessionsOptions {
  /** The client that calls AssumeRole, with sigwatch's own credentials and region. */
  sts: STSClient;
  /**
   * Who assumes the roles (e.g. `sigwatch`): set as every session's
   * SourceIdentity, which stays on the session in the member account's
   * CloudTrail and cannot be changed by whoever holds the credentials.
   */
  sourceIdentity: string;
  externalId: ExternalIdResolver;
  /** AssumeRole's DurationSeconds (the configuration's `defaults.sessionDurationSeconds`); 900 by default. */
  durationSeconds?: number;
  /** When sessions expire: the composition's clock. */
  now: Clock;
  /** How long an ExternalId read from a secret is reused before it is read again; 15 minutes by default. */
  externalIdTtlMs?: number;
}

export interface SessionPurpose {
  /** The image the credentials are for, named in the session name (and so in the member account's CloudTrail). */
  image?: string;
}

/** Sessions are renewed this long before they expire, so that none runs out during a verification. */
export const REFRESH_BEFORE_EXPIRY_MS = 5 * 60_000;
const DEFAULT_DURATION_SECONDS = 900;
const DEFAULT_EXTERNAL_ID_TTL_MS = 15 * 60_000;
// STS's rules for SourceIdentity and RoleSessionName (2–64 characters), and for ExternalId.
const SESSION_NAME_RE = /^[\w+=,.@-]{2,64}$/;
const EXTERNAL_ID_RE = /^[\w+=,.@:/-]{2,1224}$/;
const SESSION_PREFIX = 'sigwatch';
const FALLBACK_SESSION_NAME = `${SESSION_PREFIX}-verify`;
/** Hex digits of the digest in a session name: enough to find the image, short enough to leave room for its repository. */
const DIGEST_CHARS = 12;

export type AssumeRoleFailure = AwsFailure;

/**
 * Why credentials for an account could not be had. Names the account and the
 * role, never the ExternalId or any credential, and keeps no `cause`: STS
 * validation errors quote the values they reject.
 */
export class AssumeRoleError extends SigwatchError {
  readonly account: string;
  readonly roleArn: string;
  readonly failure: AssumeRoleFailure;

  constructor(account: AccountConfig, failure: AssumeRoleFailure, detail: string) {
    // Throttling and outages pass (AWS_UNAVAILABLE: the event is retried); a refusal is the association's to fix (CONFIG).
    super(
      failure === 'throttled' || failure === 'unavailable' ? 'AWS_UNAVAILABLE' : 'CONFIG',
      `account ${account.id}: cannot assume ${account.roleArn}: ${detail}`,
    );
    this.name = 'AssumeRoleError';
    this.account = account.id;
    this.roleArn = account.roleArn;
    this.failure = failure;
  }
}

interface Session {
  credentials: AwsCredentials;
  renewAt: number;
}

interface ExternalIdEntry {
  value: Promise<string>;
  until: number;
}

export class AwsSessions {
  readonly #sts: STSClient;
  readonly #sourceIdentity: string;
  readonly #resolve: ExternalIdResolver;
  readonly #durationSeconds: number;
  readonly #now: Clock;
  readonly #externalIdTtlMs: number;
  readonly #sessions = new Map<string, Session>();
  /** AssumeRole calls in flight, shared by everyone who asks for the same account meanwhile. */
  readonly #opening = new Map<string, Promise<AwsCredentials>>();
  readonly #externalIds = new Map<string, ExternalIdEntry>();

  constructor(opts: AwsSessionsOptions) {
    if (!SESSION_NAME_RE.test(opts.sourceIdentity)) {
      throw new SigwatchError('CONFIG', `SourceIdentity ${JSON.stringify(opts.sourceIdentity)}: expected 2 to 64 letters, digits and +=,.@_-`);
    }
    const duration = opts.durationSeconds ?? DEFAULT_DURATION_SECONDS;
    if (!Number.isInteger(duration) || duration < 900 || duration > 43_200) {
      throw new SigwatchError('CONFIG', `session duration ${duration}: STS accepts whole seconds from 900 to 43200`);
    }
    this.#sts = opts.sts;
    this.#sourceIdentity = opts.sourceIdentity;
    this.#resolve = opts.externalId;
    this.#durationSeconds = duration;
    this.#now = opts.now;
    this.#externalIdTtlMs = opts.externalIdTtlMs ?? DEFAULT_EXTERNAL_ID_TTL_MS;
  }

  /**
   * Credentials for `account`, which must come from a parsed configuration
   * (AccountDirectory.resolve): an account an event names is never assumed
   * unless an association lists it. Concurrent calls for one account share one
   * AssumeRole; the session is named after the image of the call that opened it.
   */
  async credentialsFor(association: Association, account: AccountConfig, purpose: SessionPurpose = {}): Promise<AwsCredentials> {
    if (!isConfiguredAccount(association, account)) {
      throw new SigwatchError('INTERNAL', `account ${account.id}: not an account of the loaded sigwatch configuration; refusing to assume ${account.roleArn}`);
    }
    const key = `${account.id} ${account.roleArn}`;
    const session = this.#sessions.get(key);
    if (session && this.#now() < session.renewAt) return copy(session.credentials);
    let opening = this.#opening.get(key);
    if (!opening) {
      opening = this.#open(key, association, account, roleSessionName(purpose.image)).finally(() => this.#opening.delete(key));
      this.#opening.set(key, opening);
    }
    return copy(await opening);
  }

  async #open(key: string, association: Association, account: AccountConfig, sessionName: string): Promise<AwsCredentials> {
    const source = association.externalId;
    const secretArn = source && 'secretArn' in source ? source.secretArn : undefined;
    const externalId =
      secretArn !== undefined
        ? await this.#secretExternalId(account, secretArn)
        : { value: source && 'inline' in source ? source.inline : undefined, reused: false };
    let output: AssumeRoleCommandOutput;
    try {
      output = await this.#assumeRole(account, sessionName, externalId.value);
    } catch (err) {
      // After a rotation the role may accept only the secret's new value: read it
      // again once, and retry only if it changed (a wrong trust policy stays denied).
      if (!(err instanceof AssumeRoleError && err.failure === 'access-denied' && secretArn !== undefined && externalId.reused)) throw err;
      this.#externalIds.delete(secretArn);
      const fresh = await this.#secretExternalId(account, secretArn);
      if (fresh.value === externalId.value) throw err;
      output = await this.#assumeRole(account, sessionName, fresh.value);
    }
    const c = output.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
      throw new AssumeRoleError(account, 'rejected', 'STS answered without credentials');
    }
    const credentials = { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration };
    this.#sessions.set(key, { credentials, renewAt: c.Expiration.getTime() - REFRESH_BEFORE_EXPIRY_MS });
    return credentials;
  }

  async #assumeRole(account: AccountConfig, sessionName: string, externalId: string | undefined): Promise<AssumeRoleCommandOutput> {
    try {
      return await this.#sts.send(
        new AssumeRoleCommand({
          RoleArn: account.roleArn,
          RoleSessionName: sessionName,
          DurationSeconds: this.#durationSeconds,
          SourceIdentity: this.#sourceIdentity,
          ...(externalId !== undefined ? { ExternalId: externalId } : {}),
        }),
      );
    } catch (err) {
      const failure = awsFailureOf(err);
      throw new AssumeRoleError(account, failure, `${ASSUME_ROLE_FAILURES[failure]} (${awsErrorLabel(err)})`);
    }
  }

  /** The ExternalId in a secret, read at most once per TTL whatever the number of accounts sharing it. */
  async #secretExternalId(account: AccountConfig, secretArn: string): Promise<{ value: string; reused: boolean }> {
    const now = this.#now();
    let entry = this.#externalIds.get(secretArn);
    const reused = entry !== undefined && now < entry.until;
    if (!entry || !reused) {
      entry = { value: this.#readExternalId(secretArn), until: now + this.#externalIdTtlMs };
      this.#externalIds.set(secretArn, entry);
    }
    const current = entry;
    try {
      return { value: await current.value, reused };
    } catch (err) {
      // A failed read is not kept: the next event reads the secret again.
      if (this.#externalIds.get(secretArn) === current) this.#externalIds.delete(secretArn);
      const failure = err instanceof SigwatchError ? 'rejected' : awsFailureOf(err);
      const detail = err instanceof SigwatchError ? err.message : `${SECRET_FAILURES[failure]} (${awsErrorLabel(err)})`;
      throw new AssumeRoleError(account, failure, `cannot read its ExternalId from ${secretArn}: ${detail}`);
    }
  }

  async #readExternalId(secretArn: string): Promise<string> {
    const value = await this.#resolve(secretArn);
    // Checked here because STS's own validation error would quote the value.
    if (typeof value !== 'string' || !EXTERNAL_ID_RE.test(value)) {
      throw new SigwatchError(
        'CONFIG',
        'the secret does not hold an ExternalId STS accepts (2 to 1224 letters, digits and +=,.@:/_-, nothing else, no trailing newline)',
      );
    }
    return value;
  }
}

/**
 * `sigwatch-<repository>-<digest prefix>`, within STS's 64 characters of
 * [\w+=,.@-]: the member account's CloudTrail then says which image a session
 * was opened for. `/` becomes `.`, anything else STS refuses becomes `-`, and
 * a long repository name is cut, never the digest.
 */
export function roleSessionName(image?: string): string {
  if (!image) return FALLBACK_SESSION_NAME;
  const at = image.indexOf('@');
  const name = at === -1 ? image : image.slice(0, at);
  const hex = at === -1 ? '' : (/^[a-z0-9]+:([a-f0-9]+)$/.exec(image.slice(at + 1))?.[1] ?? '');
  const segments = name.split('/');
  // The registry host (it has a dot or a port, or is localhost) says nothing the account does not.
  if (segments.length > 1 && /[.:]|^localhost$/.test(segments[0]!)) segments.shift();
  const last = segments.length - 1;
  segments[last] = segments[last]!.replace(/:[^:]*$/, ''); // the tag: the digest identifies the image
  const repository = segments.join('.').replace(/[^\w+=,.@-]/g, '-');
  const digest = hex.slice(0, DIGEST_CHARS);
  const room = 64 - SESSION_PREFIX.length - 1 - (digest ? digest.length + 1 : 0);
  const parts = [SESSION_PREFIX, repository.slice(0, room).replace(/[.-]+$/, ''), digest].filter((p) => p !== '');
  return parts.length > 1 ? parts.join('-') : FALLBACK_SESSION_NAME;
}

/** The SDK found no credentials of its own (no profile, no environment, no instance role): nothing reached AWS, and retrying will not help. */
const NO_CREDENTIALS =
  "no AWS credentials found: run with the credentials of the sigwatch functions' role (AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)";

const ASSUME_ROLE_FAILURES: Record<AssumeRoleFailure, string> = {
  'access-denied':
    "access denied: the role's trust policy must allow this function sts:AssumeRole and sts:SetSourceIdentity, with the association's ExternalId",
  throttled: 'STS is throttling requests; retry later',
  rejected: 'STS refused the request',
  unavailable: 'STS could not be reached; retry later',
  'no-credentials': NO_CREDENTIALS,
};

const SECRET_FAILURES: Record<AssumeRoleFailure, string> = {
  'access-denied': 'access to the secret denied',
  throttled: 'Secrets Manager is throttling requests; retry later',
  rejected: 'the secret could not be read',
  unavailable: 'Secrets Manager could not be reached; retry later',
  'no-credentials': NO_CREDENTIALS,
};

/** Each caller gets its own object: a shared Date could be changed under the cache. */
function copy(c: AwsCredentials): AwsCredentials {
  return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken, expiration: new Date(c.expiration) };
}
