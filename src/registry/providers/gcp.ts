import { GCP_AUDIENCE_RE, GCP_SERVICE_ACCOUNT_RE } from './gcp-names.ts';
import { SigwatchError } from '../../errors.ts';
import type { Credential, CredentialLookup } from '../credentials.ts';
import { describe, HttpClient, type HttpOptions, type HttpRequest, type HttpResponse } from '../http.ts';
import { isObject } from '../../json.ts';
import type { Clock } from '../../clock.ts';

/**
 * Pull credentials for Google Container Registry and Artifact Registry, from
 * AWS. Both registries take Basic auth with a fixed user name:
 * `_json_key` and a service-account key (the JSON itself) as the password, or
 * `oauth2accesstoken` and a short-lived OAuth2 access token. A key is simple
 * and never expires; workload identity federation needs no key at all: the
 * function's AWS identity (a signed `GetCallerIdentity` request, which Google
 * replays to AWS) is exchanged for a Google access token.
 */

/** `gcr.io`, `REGION.gcr.io` and Artifact Registry's `LOCATION-docker.pkg.dev`; nothing that merely contains them. */
export function isGcpRegistry(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'gcr.io' || /^[a-z0-9-]+\.gcr\.io$/.test(h) || /^[a-z0-9-]+-docker\.pkg\.dev$/.test(h);
}

// ---- (a) a service-account key -------------------------------------------

/**
 * A service-account key as the Basic credential GCR and Artifact Registry
 * accept (a pull secret may hold one: see pull-secrets.ts). The secret holds the key file (`gcloud iam service-accounts keys
 * create`), or, as KubeClarity's `gcr-sa` secret does, `{"sa.json": "<the key file>"}`.
 * Checks name the missing field, never a value: the key's private key is the secret.
 */
export function serviceAccountKeyCredential(text: string, label: string): Credential {
  let keyText = text.trim();
  let key = parseObject(keyText, label);
  if (typeof key['sa.json'] === 'string') {
    keyText = key['sa.json'].trim();
    key = parseObject(keyText, `${label}: "sa.json"`);
  }
  if (key.type !== 'service_account') throw new SigwatchError('CONFIG', `${label}: not a service account key (type is not "service_account")`);
  for (const field of ['client_email', 'private_key'] as const) {
    if (typeof key[field] !== 'string' || key[field] === '') throw new SigwatchError('CONFIG', `${label}: service account key has no "${field}"`);
  }
  // The registry wants the key file as it is, not a re-serialisation of it.
  return { kind: 'basic', username: '_json_key', password: keyText };
}

function parseObject(text: string, label: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // The parser's message quotes the text, which is the key: say only that it is not JSON.
    throw new SigwatchError('CONFIG', `${label}: not valid JSON`);
  }
  if (!isObject(json)) throw new SigwatchError('CONFIG', `${label}: not a JSON object`);
  return json;
}

// ---- (b) workload identity federation from AWS ------------------------------

/** A signed AWS STS `GetCallerIdentity` request, as produced by a SigV4 signer. */
export interface SignedAwsRequest {
  /** `https://sts.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15`, or a regional STS endpoint. */
  url: string;
  method: string;
  /** Must include `Authorization`, `x-amz-date`, `host`, `x-goog-cloud-target-resource` (the audience) and, with temporary credentials, `x-amz-security-token`. */
  headers: Record<string, string>;
}

export interface GcpFederationOptions {
  /** The workload identity pool provider: `//iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/providers/Q`. */
  audience: string;
  /** A service account to impersonate with the federated token; without it the federated identity itself must be granted read on the registry. */
  serviceAccount?: string;
  /**
   * Signs a `GetCallerIdentity` request with the function's AWS credentials,
   * including `x-goog-cloud-target-resource: <audience>` among the signed
   * headers. Signing stays outside this module, with whoever holds the AWS credentials.
   */
  signCallerIdentity: (audience: string) => Promise<SignedAwsRequest>;
  tokenUrl?: string;
  /** Base of the IAM Credentials API (`generateAccessToken`). */
  iamCredentialsUrl?: string;
  scope?: string;
  /** `host:port`s reached over plain HTTP (tests); everything else must be HTTPS, since the signed request is replayable for minutes. */
  insecureHosts?: Iterable<string>;
  http?: HttpOptions;
  now: Clock;
}

const GCP_STS_TOKEN_URL = 'https://sts.googleapis.com/v1/token';
const GCP_IAM_CREDENTIALS_URL = 'https://iamcredentials.googleapis.com';
const GCP_CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
/** Renew this long before the access token expires. */
const GCP_REFRESH_BEFORE_MS = 5 * 60_000;

const MAX_RESPONSE_BYTES = 64 * 1024;

interface AccessToken {
  token: string;
  refreshAt: number;
}

/**
 * GCR / Artifact Registry credentials through workload identity federation:
 * STS token exchange (RFC 8693) of the signed AWS request for a federated
 * access token, then optionally IAM Credentials `generateAccessToken` for a
 * service account. One token serves every GCP registry; it is cached until
 * five minutes before it expires, and concurrent lookups share one exchange.
 */
export class GcpFederatedCredentials {
  readonly http: HttpClient;
  private readonly audience: string;
  private readonly serviceAccount: string | undefined;
  private readonly sign: GcpFederationOptions['signCallerIdentity'];
  private readonly tokenUrl: string;
  private readonly impersonationUrl: string | undefined;
  private readonly scope: string;
  private readonly now: Clock;
  private cached: AccessToken | undefined;
  private pending: Promise<AccessToken> | undefined;

  constructor(opts: GcpFederationOptions) {
    if (!GCP_AUDIENCE_RE.test(opts.audience)) {
      throw new SigwatchError(
        'CONFIG',
        `GCP audience ${JSON.stringify(opts.audience)} is not a workload identity pool provider (//iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER)`,
      );
    }
    if (opts.serviceAccount !== undefined && !GCP_SERVICE_ACCOUNT_RE.test(opts.serviceAccount)) {
      throw new SigwatchError('CONFIG', `GCP service account ${JSON.stringify(opts.serviceAccount)} is not a service account email`);
    }
    const insecure = new Set(opts.insecureHosts ?? []);
    this.audience = opts.audience;
    this.serviceAccount = opts.serviceAccount;
    this.sign = opts.signCallerIdentity;
    this.tokenUrl = checkedUrl(opts.tokenUrl ?? GCP_STS_TOKEN_URL, 'GCP STS token URL', insecure);
    const iam = checkedUrl(opts.iamCredentialsUrl ?? GCP_IAM_CREDENTIALS_URL, 'GCP IAM Credentials URL', insecure).replace(/\/+$/, '');
    this.impersonationUrl = opts.serviceAccount && `${iam}/v1/projects/-/serviceAccounts/${opts.serviceAccount}:generateAccessToken`;
    this.scope = opts.scope ?? GCP_CLOUD_PLATFORM_SCOPE;
    this.http = new HttpClient(opts.http ?? {});
    this.now = opts.now;
  }

  /** `oauth2accesstoken` and the access token, for GCR and Artifact Registry hosts only. */
  readonly lookup: CredentialLookup = async (registry) => {
    if (!isGcpRegistry(registry)) return undefined;
    return { kind: 'basic', username: 'oauth2accesstoken', password: await this.accessToken() };
  };

  /** The service account impersonated, if any. */
  get serviceAccountEmail(): string | undefined {
    return this.serviceAccount;
  }

  /** One token exchange, uncached: `associations check` runs each step on its own to say which one fails. */
  async federatedToken(): Promise<string> {
    return (await this.exchange()).token;
  }

  /** One `generateAccessToken` for the service account with a federated token, uncached. */
  async serviceAccountToken(federatedToken: string): Promise<string> {
    if (!this.impersonationUrl) throw new SigwatchError('INTERNAL', 'GCP federation: no service account to impersonate');
    return (await this.impersonate(federatedToken)).token;
  }

  /** The registry's access token: the service account's when one is named, else the federated one; cached. */
  async accessToken(): Promise<string> {
    if (this.cached && this.cached.refreshAt > this.now()) return this.cached.token;
    this.cached = undefined;
    this.pending ??= this.fetchAccessToken()
      .then((t) => (this.cached = t))
      .finally(() => (this.pending = undefined));
    return (await this.pending).token;
  }

  private async fetchAccessToken(): Promise<AccessToken> {
    const federated = await this.exchange();
    if (!this.impersonationUrl) return federated;
    return this.impersonate(federated.token);
  }

  /** STS token exchange: the serialized signed AWS request is the subject token. */
  private async exchange(): Promise<AccessToken> {
    const form = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      audience: this.audience,
      scope: this.scope,
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      subject_token: subjectToken(await this.signed()),
      subject_token_type: 'urn:ietf:params:aws:token-type:aws4_request',
    });
    const where = `GCP STS ${describe(this.tokenUrl)}`;
    const res = await this.send(
      {
        method: 'POST',
        url: this.tokenUrl,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        maxBytes: MAX_RESPONSE_BYTES,
      },
      'gcp-sts',
      `GCP STS token exchange for ${this.audience}`,
    );
    const body = responseJson(res.status, res.body, `${where}: token exchange for ${this.audience}`);
    if (typeof body.access_token !== 'string' || body.access_token === '') {
      throw new SigwatchError('REGISTRY_AUTH', `${where}: token exchange answered without an access_token`);
    }
    const expiresIn = typeof body.expires_in === 'number' ? body.expires_in * 1000 : undefined;
    return { token: body.access_token, refreshAt: this.refreshAt(expiresIn === undefined ? undefined : this.now() + expiresIn) };
  }

  private async impersonate(federatedToken: string): Promise<AccessToken> {
    const where = `GCP IAM generateAccessToken for ${this.serviceAccount}`;
    const res = await this.send(
      {
        method: 'POST',
        url: this.impersonationUrl!,
        headers: { authorization: `Bearer ${federatedToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ scope: [this.scope] }),
        maxBytes: MAX_RESPONSE_BYTES,
      },
      'gcp-iam',
      where,
    );
    const body = responseJson(res.status, res.body, where);
    if (typeof body.accessToken !== 'string' || body.accessToken === '') {
      throw new SigwatchError('REGISTRY_AUTH', `${where}: answered without an accessToken`);
    }
    const expireTime = typeof body.expireTime === 'string' ? Date.parse(body.expireTime) : NaN;
    return { token: body.accessToken, refreshAt: this.refreshAt(Number.isFinite(expireTime) ? expireTime : undefined) };
  }

  /** The HTTP client's errors name a URL only: say which step of the exchange could not reach Google. */
  private async send(req: HttpRequest, kind: string, what: string): Promise<HttpResponse> {
    try {
      return await this.http.send(req, kind);
    } catch (err) {
      if (err instanceof SigwatchError) throw new SigwatchError(err.code, `${what}: ${err.message}`, { cause: err });
      throw err;
    }
  }

  /** Without an expiry we cannot know how long a token lasts: use it once and exchange again next time. */
  private refreshAt(expiresAt: number | undefined): number {
    return expiresAt === undefined ? this.now() : expiresAt - GCP_REFRESH_BEFORE_MS;
  }

  private async signed(): Promise<SignedAwsRequest> {
    let req: SignedAwsRequest;
    try {
      req = await this.sign(this.audience);
    } catch (err) {
      if (err instanceof SigwatchError) throw err;
      const name = errorName(err);
      if (name === 'CredentialsProviderError')
        throw new SigwatchError('REGISTRY_AUTH', 'GCP federation: no AWS credentials found to sign the GetCallerIdentity request Google checks');
      throw new SigwatchError('REGISTRY_AUTH', `GCP federation: signing the AWS GetCallerIdentity request failed (${name})`);
    }
    checkSignedRequest(req, this.audience);
    return req;
  }
}

/**
 * Google's AWS subject token: the signed request as JSON, headers as a
 * `{key, value}` list, URL-encoded (and then form-encoded once more on the wire).
 */
function subjectToken(req: SignedAwsRequest): string {
  const headers = Object.entries(req.headers).map(([key, value]) => ({ key, value }));
  return encodeURIComponent(JSON.stringify({ url: req.url, method: req.method, headers }));
}

/**
 * Catches a signer wired to the wrong request before Google does, with a
 * clearer message than STS's `invalid_grant`. Names header keys only: their
 * values are the signature and session token.
 */
function checkSignedRequest(req: SignedAwsRequest, audience: string): void {
  const bad = (what: string) => new SigwatchError('CONFIG', `GCP federation: the signed AWS request ${what}`);
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    throw bad('has no valid url');
  }
  if (url.protocol !== 'https:' || url.searchParams.get('Action') !== 'GetCallerIdentity') throw bad('is not an https STS GetCallerIdentity request');
  if (req.method !== 'POST') throw bad('is not a POST');
  const headers = new Map(Object.entries(req.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  for (const name of ['authorization', 'x-amz-date', 'host', 'x-goog-cloud-target-resource']) {
    if (!headers.get(name)) throw bad(`lacks the ${name} header`);
  }
  const target = headers.get('x-goog-cloud-target-resource');
  if (target !== audience && target !== `https:${audience}`) throw bad('names another x-goog-cloud-target-resource than the audience');
}

/** A Google API's JSON answer, or REGISTRY_AUTH naming the status and Google's error code (not its description). */
function responseJson(status: number, body: Buffer, where: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    json = undefined;
  }
  if (status !== 200) {
    // OAuth errors: {"error": "invalid_grant"}; Google APIs: {"error": {"status": "PERMISSION_DENIED"}}.
    const error = isObject(json) ? (isObject(json.error) ? json.error.status : json.error) : undefined;
    const code = typeof error === 'string' && /^[A-Za-z_]+$/.test(error) ? ` ${error}` : '';
    throw new SigwatchError('REGISTRY_AUTH', `${where} failed (HTTP ${status}${code})`, { status });
  }
  if (!isObject(json)) throw new SigwatchError('REGISTRY_AUTH', `${where}: answered with invalid JSON`);
  return json;
}

function checkedUrl(url: string, what: string, insecure: Set<string>): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SigwatchError('CONFIG', `${what} is not a URL`);
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && insecure.has(u.host))) {
    throw new SigwatchError('CONFIG', `${what} ${describe(url)} is not https and not named insecure`);
  }
  return url;
}

function errorName(err: unknown): string {
  return err instanceof Error && /^[A-Za-z][\w.]*$/.test(err.name) ? err.name : 'unknown error';
}
