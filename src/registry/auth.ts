import { SigwatchError } from '../errors.ts';
import type { Credential } from './credentials.ts';
import type { HttpClient } from './http.ts';
import type { Clock } from '../clock.ts';

/**
 * The distribution auth handshake: a 401 names a scheme; Basic sends the
 * credential itself, Bearer trades it at the realm for a token scoped to one
 * repository. The scheme is remembered per registry and tokens per scope, so a
 * warm process pays the handshake once.
 */
export type Challenge = { scheme: 'basic' } | { scheme: 'bearer'; realm: string; service?: string };

export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  const params = new Map<string, string>();
  for (const p of (m[2] ?? '').matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g)) {
    params.set(p[1]!.toLowerCase(), (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1'));
  }
  if (scheme === 'basic') return { scheme: 'basic' };
  if (scheme === 'bearer') {
    const realm = params.get('realm');
    if (!realm) return undefined;
    return { scheme: 'bearer', realm, service: params.get('service') };
  }
  return undefined;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export class TokenCache {
  private readonly tokens = new Map<string, CachedToken>();
  private readonly now: Clock;
  constructor(now: Clock) {
    this.now = now;
  }

  get(key: string): string | undefined {
    const t = this.tokens.get(key);
    if (!t) return undefined;
    if (t.expiresAt <= this.now()) {
      this.tokens.delete(key);
      return undefined;
    }
    return t.token;
  }

  set(key: string, token: string, lifetimeSeconds: number): void {
    // Renew a little early so a token never expires between check and use:
    // 10 s, or a quarter of a short lifetime, which would otherwise never be reused.
    const margin = Math.min(10, lifetimeSeconds / 4);
    this.tokens.set(key, { token, expiresAt: this.now() + Math.max(0, lifetimeSeconds - margin) * 1000 });
  }

  /** Forgets a refused token; only that one, when given, so a fresher token another request just fetched stays. */
  delete(key: string, token?: string): void {
    if (token === undefined || this.tokens.get(key)?.token === token) this.tokens.delete(key);
  }
}

export function basicHeader(c: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

export interface TokenRequest {
  challenge: { realm: string; service?: string };
  /** `repository:<name>:pull` */
  scope: string;
  credential: Credential | undefined;
  /** The repository the token is for (`host/name`), named in errors. */
  where: string;
  /** Hosts (`host:port`) named insecure: the only realms that may be plain HTTP. */
  allowInsecure: (host: string) => boolean;
}

/** Trades a credential (or nothing, for anonymous pulls) for a bearer token at the realm. */
export async function fetchBearerToken(http: HttpClient, req: TokenRequest): Promise<{ token: string; expiresIn: number }> {
  const { challenge, scope, credential, where } = req;
  let realm: URL;
  try {
    realm = new URL(challenge.realm);
  } catch {
    throw new SigwatchError('REGISTRY_PROTOCOL', `${where}: the registry's token realm is not a URL`);
  }
  // The realm receives the credential itself: never over plain HTTP unless the operator said so.
  if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && req.allowInsecure(realm.host))) {
    throw new SigwatchError('REGISTRY_AUTH', `${where}: token realm ${realm.host} is not https and not named insecure`);
  }
  if (credential?.kind === 'registry-token') return { token: credential.token, expiresIn: 300 };
  const service = `${where}: token service ${realm.host}`;
  let res;
  if (credential?.kind === 'identity-token') {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: credential.token, scope, client_id: 'sigwatch' });
    if (challenge.service) form.set('service', challenge.service);
    res = await http.send(
      {
        method: 'POST',
        url: realm.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        maxBytes: MAX_TOKEN_BYTES,
      },
      'token',
    );
  } else {
    if (challenge.service) realm.searchParams.set('service', challenge.service);
    realm.searchParams.set('scope', scope);
    const headers: Record<string, string> = {};
    if (credential?.kind === 'basic') headers.authorization = basicHeader(credential);
    res = await http.send({ method: 'GET', url: realm.toString(), headers, maxBytes: MAX_TOKEN_BYTES }, 'token');
  }
  if (res.status === 401 || res.status === 403) {
    const who = credential ? 'the configured credentials' : 'anonymous access (no credentials configured for it)';
    throw new SigwatchError('REGISTRY_AUTH', `${service} refused ${who} (HTTP ${res.status})`);
  }
  if (res.status !== 200) throw new SigwatchError('REGISTRY_AUTH', `${service} answered HTTP ${res.status}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.body.toString('utf8'));
  } catch {
    throw new SigwatchError('REGISTRY_AUTH', `${service} answered with invalid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new SigwatchError('REGISTRY_AUTH', `${service} answered without a token`);
  const body = parsed as { token?: unknown; access_token?: unknown; expires_in?: unknown };
  const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : '';
  if (!token) throw new SigwatchError('REGISTRY_AUTH', `${service} answered without a token`);
  // It goes into a header: a control character would make fetch fail with a message quoting it.
  if (!TOKEN_CHARS.test(token)) throw new SigwatchError('REGISTRY_AUTH', `${service} answered with a token that is not a valid header value`);
  // The distribution spec's default lifetime when none is given.
  const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
  return { token, expiresIn };
}

const MAX_TOKEN_BYTES = 64 * 1024;
/** Visible ASCII: what a bearer token (RFC 6750 b64token, or a JWT) is made of. */
const TOKEN_CHARS = /^[\x21-\x7e]+$/;
