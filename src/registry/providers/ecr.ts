import { GetAuthorizationTokenCommand, type ECRClient } from '@aws-sdk/client-ecr';
import { SigwatchError } from '../../errors.ts';
import type { Credential, CredentialLookup } from '../credentials.ts';
import type { Clock } from '../../clock.ts';
import { ECR_HOST_RE } from './ecr-names.ts';

/**
 * Pull credentials for Amazon ECR private registries. ECR has no long-lived
 * password: `GetAuthorizationToken`, called with IAM credentials that may read
 * the registry, returns base64 of `AWS:<password>` valid for 12 hours. This
 * module only trades an ECR client for that token: which IAM identity the
 * client carries (a member account's associated role, or the function's own
 * role for the central account) is the caller's decision, so role assumption
 * and its ExternalId checks live in one place and not here.
 */

export interface EcrRegistry {
  /** The 12-digit AWS account that owns the registry. */
  account: string;
  region: string;
  /** Whether the host is the FIPS endpoint (`dkr.ecr-fips`). */
  fips: boolean;
}

/** The ECR registry a host names, or undefined when it is not an ECR private registry. */
export function ecrRegistry(host: string): EcrRegistry | undefined {
  const m = ECR_HOST_RE.exec(host.toLowerCase());
  if (!m) return undefined;
  const [, account, fips, region, china] = m;
  // China regions are served only under amazonaws.com.cn, and only they are.
  if (region!.startsWith('cn-') !== (china !== undefined)) return undefined;
  return { account: account!, region: region!, fips: fips !== undefined };
}

export interface EcrCredentialProviderOptions {
  /**
   * An ECR client for the account's registry in its region, carrying IAM
   * credentials allowed `ecr:GetAuthorizationToken` there. `fips` says the
   * image was named by its FIPS host, so the caller can use the FIPS API
   * endpoint too (`useFipsEndpoint`); a two-argument function may ignore it.
   */
  clientFor: (account: string, region: string, options: { fips: boolean }) => Promise<ECRClient>;
  /** Milliseconds since the epoch; injectable for tests. */
  now: Clock;
}

/** Renew this long before ECR's `expiresAt`, so a token never expires between lookup and pull. */
export const ECR_REFRESH_BEFORE_MS = 5 * 60_000;

interface CachedToken {
  credential: Credential;
  refreshAt: number;
}

export class EcrCredentialProvider {
  private readonly clientFor: EcrCredentialProviderOptions['clientFor'];
  private readonly now: Clock;
  private readonly tokens = new Map<string, CachedToken>();
  /** Token requests under way, so concurrent lookups for one registry share one call. */
  private readonly pending = new Map<string, Promise<CachedToken>>();

  constructor(opts: EcrCredentialProviderOptions) {
    this.clientFor = opts.clientFor;
    this.now = opts.now;
  }

  /**
   * The credential for an ECR host; undefined for every other host. One
   * token covers every repository of the registry, so the cache is per
   * account and region (and endpoint kind), not per repository.
   * An arrow property so it can be handed to `chainLookups` unbound.
   */
  readonly lookup: CredentialLookup = async (registry) => {
    const ecr = ecrRegistry(registry);
    return ecr && this.credentialFor(ecr, registry);
  };

  private async credentialFor(ecr: EcrRegistry, host: string): Promise<Credential> {
    const key = `${ecr.account}/${ecr.region}${ecr.fips ? '/fips' : ''}`;
    const cached = this.tokens.get(key);
    if (cached && cached.refreshAt > this.now()) return cached.credential;
    this.tokens.delete(key);
    let pending = this.pending.get(key);
    if (!pending) {
      pending = this.fetchToken(ecr, host)
        .then((token) => {
          this.tokens.set(key, token);
          return token;
        })
        .finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    return (await pending).credential;
  }

  private async fetchToken(ecr: EcrRegistry, host: string): Promise<CachedToken> {
    let client: ECRClient;
    try {
      client = await this.clientFor(ecr.account, ecr.region, { fips: ecr.fips });
    } catch (err) {
      // The caller's own errors (say, an account without an association) already say what is wrong.
      if (err instanceof SigwatchError) throw err;
      throw new SigwatchError('REGISTRY_AUTH', `${host}: no ECR client for account ${ecr.account} in ${ecr.region} (${awsErrorName(err)})`);
    }
    let output;
    try {
      // AWS marks `registryIds` deprecated: the token reaches whatever the client's principal may read,
      // whatever IDs are named. Isolation between accounts therefore comes from clientFor (one role per
      // account), and the cache is keyed the same way. The ID still makes ECR answer for this registry,
      // which the proxyEndpoint check below relies on.
      output = await client.send(new GetAuthorizationTokenCommand({ registryIds: [ecr.account] }));
    } catch (err) {
      // The error's name only: AWS messages carry principal ARNs and request details, never anything we need.
      throw new SigwatchError('REGISTRY_AUTH', `${host}: ECR GetAuthorizationToken failed (${awsErrorName(err)})`);
    }
    // Asked for one registry, ECR answers with one entry; one for another account would be a wiring mistake.
    const data = output.authorizationData?.find(
      (d) => d.authorizationToken && (!d.proxyEndpoint || ecrRegistry(d.proxyEndpoint.replace(/^https:\/\//, '').replace(/\/+$/, ''))?.account === ecr.account),
    );
    if (!data?.authorizationToken) {
      throw new SigwatchError('REGISTRY_AUTH', `${host}: ECR GetAuthorizationToken returned no token for account ${ecr.account}`);
    }
    const decoded = Buffer.from(data.authorizationToken, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0 || colon === decoded.length - 1) {
      throw new SigwatchError('REGISTRY_AUTH', `${host}: ECR GetAuthorizationToken returned a token that is not base64 of "user:password"`);
    }
    const credential: Credential = { kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    // Without an expiry we cannot know how long it lasts: use it for this request and ask again next time.
    const expiresAt = data.expiresAt?.getTime();
    const refreshAt = expiresAt !== undefined && Number.isFinite(expiresAt) ? expiresAt - ECR_REFRESH_BEFORE_MS : this.now();
    return { credential, refreshAt };
  }
}

/** An AWS SDK error's name (`AccessDeniedException`, `ThrottlingException`), the only part safe and useful in a message. */
function awsErrorName(err: unknown): string {
  if (!(err instanceof Error)) return 'unknown error';
  const code = (err as { code?: unknown }).code;
  if (err.name === 'Error' && typeof code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(code)) return code;
  return /^[A-Za-z][\w.]*$/.test(err.name) ? err.name : 'unknown error';
}
