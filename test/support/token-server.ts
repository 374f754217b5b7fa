import { KeyObject, randomUUID, sign, webcrypto } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
// Test-only, both from @sigstore/mock's dependencies: node:crypto makes keys but not certificates, and
// docker-registry trusts a token's key through one. @peculiar/x509 needs the Reflect polyfill loaded first.
import 'reflect-metadata';
import { BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension, X509CertificateGenerator } from '@peculiar/x509';

/** What a registry needs to trust a token server (distribution's `auth.token` settings). */
export interface TokenAuth {
  realm: string;
  service: string;
  issuer: string;
  /** Self-signed certificate of the signing key: the registry's `rootcertbundle`. */
  certPem: string;
  /** Told the registry's clock offset once it runs (startRegistry calls it), so tokens are issued on the registry's time. */
  alignClock?: (registryOffsetMs: number) => void;
}

export interface TokenUser {
  password: string;
  /** Repository prefixes (`team-a` covers `team-a/app`); `*` covers every repository. */
  repositories: string[];
  /** Actions granted on them; default pull only. */
  actions?: string[];
}

export interface TokenServerOptions {
  users?: Record<string, TokenUser>;
  /** Repository prefixes anyone may pull without credentials. */
  anonymous?: string[];
  /** Token lifetime in seconds (default 300). */
  expiresIn?: number;
}

export interface Access {
  type: string;
  name: string;
  actions: string[];
}

/** One request the server answered, for assertions on who asked for what. */
export interface TokenRequestRecord {
  /** The Basic username, undefined for an anonymous request. */
  username: string | undefined;
  scopes: string[];
  status: number;
  granted: Access[];
}

export interface TokenServer {
  url: string;
  auth: TokenAuth;
  requests: TokenRequestRecord[];
  /** The JSON bodies of the tokens issued, in order. */
  issuedAnswers: string[];
  /** Lifetime of the tokens issued from now on, as `expires_in` and in the `exp` claim. */
  expiresIn: number;
  /**
   * When set, the `exp` claim in seconds from issue instead, while `expires_in`
   * still says `expiresIn`: a token the registry refuses before the client expects.
   */
  expClaim: number | undefined;
  /**
   * The registry's clock minus ours: JWT claims (iat, nbf, exp) and the
   * answer's `issued_at` are on the registry's time, as a real token service
   * shares its registry's clock; a client whose clock differs sees them in
   * the future or the past.
   */
  clockOffsetMs: number;
  close(): Promise<void>;
}

const SERVICE = 'sigwatch-test-registry';
const ISSUER = 'sigwatch-test-token-issuer';
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

/**
 * A distribution token server (docs/spec/auth/token.md) on 127.0.0.1: checks
 * Basic credentials per user, grants each user pull (or more) on its own
 * repository prefixes, and signs ES256 JWTs whose `x5c` header carries a
 * self-signed certificate, which docker-registry verifies against its
 * `rootcertbundle`.
 */
export async function startTokenServer(opts: TokenServerOptions = {}): Promise<TokenServer> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  // The registry trusts this root from its start, before anyone knows its clock: ten years either way, as roots are.
  const TEN_YEARS_MS = 10 * 365 * 86_400_000;
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${ISSUER}`,
    notBefore: new Date(now - TEN_YEARS_MS),
    notAfter: new Date(now + TEN_YEARS_MS),
    signingAlgorithm: EC,
    keys,
    extensions: [
      new BasicConstraintsExtension(true, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyCertSign, true),
    ],
  });
  const signingKey = KeyObject.from(keys.privateKey);
  const x5c = Buffer.from(cert.rawData).toString('base64');
  const users = opts.users ?? {};
  const anonymous = opts.anonymous ?? [];

  const server: TokenServer = {
    url: '',
    auth: { realm: '', service: SERVICE, issuer: ISSUER, certPem: cert.toString('pem'), alignClock: (offset) => (server.clockOffsetMs = offset) },
    requests: [],
    issuedAnswers: [],
    expiresIn: opts.expiresIn ?? 300,
    expClaim: undefined,
    clockOffsetMs: 0,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };

  const jwt = (subject: string, access: Access[]): string => {
    const issuedAt = Math.floor((Date.now() + server.clockOffsetMs) / 1000);
    const expires = issuedAt + (server.expClaim ?? server.expiresIn);
    const header = { typ: 'JWT', alg: 'ES256', x5c: [x5c] };
    const claims = { iss: ISSUER, sub: subject, aud: SERVICE, exp: expires, nbf: issuedAt - 5, iat: issuedAt, jti: randomUUID(), access };
    const signed = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    // JWS wants ECDSA signatures as r‖s, not DER.
    const signature = sign('sha256', Buffer.from(signed), { key: signingKey, dsaEncoding: 'ieee-p1363' });
    return `${signed}.${signature.toString('base64url')}`;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', server.url);
    const scopes = url.searchParams
      .getAll('scope')
      .flatMap((s) => s.split(' '))
      .filter(Boolean);
    const record: TokenRequestRecord = { username: undefined, scopes, status: 200, granted: [] };
    server.requests.push(record);
    const reply = (status: number, body: unknown) => {
      record.status = status;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (url.pathname !== '/token' || url.searchParams.get('service') !== SERVICE) return reply(400, { errors: [{ code: 'UNSUPPORTED' }] });
    const basic = parseBasic(req.headers.authorization);
    record.username = basic?.username;
    if (basic && users[basic.username]?.password !== basic.password) {
      return reply(401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] });
    }
    const allowed = basic
      ? { prefixes: users[basic.username]!.repositories, actions: users[basic.username]!.actions ?? ['pull'] }
      : { prefixes: anonymous, actions: ['pull'] };
    record.granted = scopes.flatMap((scope) => grant(scope, allowed.prefixes, allowed.actions));
    const token = jwt(basic?.username ?? '', record.granted);
    const answer = { token, access_token: token, expires_in: server.expiresIn, issued_at: new Date(Date.now() + server.clockOffsetMs).toISOString() };
    server.issuedAnswers.push(JSON.stringify(answer));
    reply(200, answer);
  };

  const http = createServer(handle);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  server.url = `http://127.0.0.1:${port}`;
  server.auth.realm = `${server.url}/token`;
  return server;
}

/** `repository:team-a/app:pull,push` → what of it the caller may have (nothing is a valid answer, as on Docker Hub). */
function grant(scope: string, prefixes: string[], actions: string[]): Access[] {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last <= first) return [];
  const type = scope.slice(0, first);
  const name = scope.slice(first + 1, last);
  if (type !== 'repository' || !prefixes.some((p) => p === '*' || name === p || name.startsWith(`${p}/`))) return [];
  const granted = scope
    .slice(last + 1)
    .split(',')
    .filter((a) => actions.includes(a));
  return granted.length ? [{ type, name, actions: granted }] : [];
}

function parseBasic(header: string | undefined): { username: string; password: string } | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function base64url(s: string): string {
  return Buffer.from(s).toString('base64url');
}
