import { readJsonFile } from '../config-file.ts';
import { SigwatchError } from '../errors.ts';
import { isObject } from '../json.ts';
import { DEFAULT_REGISTRY } from './reference.ts';

/** What a registry accepts as proof of identity. */
export type Credential =
  | { kind: 'basic'; username: string; password: string }
  /** An OAuth2 refresh token (Docker config `identitytoken`), exchanged at the token realm. */
  | { kind: 'identity-token'; username?: string; token: string }
  /** A bearer token sent as is (`registrytoken`). */
  | { kind: 'registry-token'; token: string };

/** Finds the credential for a repository; undefined means anonymous. */
export type CredentialLookup = (registry: string, repository: string) => Promise<Credential | undefined>;

export const anonymous: CredentialLookup = async () => undefined;

/**
 * Docker `config.json` `auths`, the format of `docker login` and of Kubernetes
 * `kubernetes.io/dockerconfigjson` pull secrets. A key may name a registry or a
 * registry and repository prefix; the longest prefix of the repository wins, so a
 * credential for `host/team` is never sent for `host/other`.
 */
export function dockerConfigLookup(config: unknown, source: string): CredentialLookup {
  const entries = parseAuths(config, source);
  return async (registry, repository) => {
    const target = `${registry}/${repository}`;
    let best: { prefix: string; credential: Credential } | undefined;
    for (const e of entries) {
      const matches = target === e.prefix || target.startsWith(`${e.prefix}/`);
      if (matches && (!best || e.prefix.length > best.prefix.length)) best = e;
    }
    return best?.credential;
  };
}

export async function loadDockerConfig(path: string): Promise<CredentialLookup> {
  return dockerConfigLookup(await readJsonFile(path, 'registry config'), path);
}

function parseAuths(config: unknown, source: string): { prefix: string; credential: Credential }[] {
  // A pull secret's `.dockerconfigjson` is the same document; `.dockercfg` is `auths` alone.
  const auths = isObject(config) && 'auths' in config ? config.auths : config;
  if (!isObject(auths)) throw new SigwatchError('CONFIG', `${source}: expected an object with "auths" mapping registries to credentials`);
  const out: { prefix: string; credential: Credential }[] = [];
  for (const [key, value] of Object.entries(auths)) {
    if (!isObject(value)) throw new SigwatchError('CONFIG', `${source}: auths["${key}"] must be an object`);
    const credential = toCredential(value, `${source}: auths["${key}"]`);
    if (credential) out.push({ prefix: normalizeAuthKey(key), credential });
  }
  return out;
}

function toCredential(v: Record<string, unknown>, where: string): Credential | undefined {
  const str = (k: string) => (typeof v[k] === 'string' && v[k] !== '' ? (v[k] as string) : undefined);
  const identityToken = str('identitytoken');
  if (identityToken) return { kind: 'identity-token', token: identityToken, username: str('username') };
  const registryToken = str('registrytoken');
  if (registryToken) {
    // It goes into an Authorization header as it is: a character a header cannot carry would fail the request with an error quoting it.
    if (!/^[\x21-\x7e]+$/.test(registryToken)) throw new SigwatchError('CONFIG', `${where}.registrytoken is not a bearer token (visible ASCII only)`);
    return { kind: 'registry-token', token: registryToken };
  }
  let username = str('username');
  let password = str('password');
  const auth = str('auth');
  if (auth) {
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new SigwatchError('CONFIG', `${where}.auth is not base64 of "user:password"`);
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  if (username !== undefined && password !== undefined) return { kind: 'basic', username, password };
  return undefined;
}

/**
 * `https://index.docker.io/v1/`, `docker.io` and `index.docker.io` all mean
 * Docker Hub; a scheme and the v1/v2 API suffix are not part of the name, and a
 * Docker Hub namespace without `library/` means that namespace.
 */
export function normalizeAuthKey(key: string): string {
  let k = key
    .trim()
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/+$/, '');
  k = k.replace(/\/v[12]$/, '');
  const slash = k.indexOf('/');
  const host = slash < 0 ? k : k.slice(0, slash);
  const rest = slash < 0 ? '' : k.slice(slash);
  const isHub = host === 'docker.io' || host === 'index.docker.io' || host === 'registry-1.docker.io';
  return `${isHub ? DEFAULT_REGISTRY : host.toLowerCase()}${rest}`;
}
