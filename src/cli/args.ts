import { SigwatchError } from '../errors.ts';

export function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new SigwatchError('USAGE', `${flag} must be one of ${allowed.join(', ')}, got "${value}"`);
}

// host or host:port: DNS labels, an IPv4 address or a bracketed IPv6 one, an optional port.
const REGISTRY_HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/;

/**
 * `--insecure-registry` values as the registry client matches them (`host:port`).
 * `http://host:port` says the same thing and is taken (a trailing `/` too); an
 * `https://` URL contradicts the flag and anything else is not a host: both
 * are refused, since a value that silently matched nothing would leave the
 * registry on HTTPS and fail later with a TLS error.
 */
export function insecureRegistries(values: readonly string[] | undefined): string[] {
  return (values ?? []).map((value) => {
    const host = value.replace(/^http:\/\//i, '').replace(/\/+$/, '');
    if (/^https:\/\//i.test(value))
      throw new SigwatchError(
        'USAGE',
        `--insecure-registry ${value}: an https:// registry is not insecure; give HOST:PORT of a registry that speaks plain HTTP`,
      );
    const m = REGISTRY_HOST.exec(host);
    if (!m || (m[1] !== undefined && (Number(m[1]) < 1 || Number(m[1]) > 65535))) {
      throw new SigwatchError(
        'USAGE',
        `--insecure-registry ${value}: expected HOST[:PORT] (as in the image reference, e.g. 127.0.0.1:5000), or http://HOST[:PORT]`,
      );
    }
    return host.toLowerCase();
  });
}

/** `--kms-endpoint` values: `HOST[:PORT]` as in an `awskms://HOST:PORT/…` reference, lower-cased. */
export function kmsEndpoints(values: readonly string[] | undefined): string[] {
  return (values ?? []).map((value) => {
    const m = REGISTRY_HOST.exec(value);
    if (!m || (m[1] !== undefined && (Number(m[1]) < 1 || Number(m[1]) > 65535))) {
      throw new SigwatchError('USAGE', `--kms-endpoint ${value}: expected HOST[:PORT] as in awskms://HOST:PORT/arn:aws:kms:…`);
    }
    return value.toLowerCase();
  });
}

/**
 * A policy set with no ClusterImagePolicy is a configuration error (exit 2) for
 * every command: verifying against it would only ever give the no-match
 * verdict, which says nothing about the image.
 */
export function requirePolicies(set: { policies: readonly unknown[] }, location: string): void {
  if (set.policies.length === 0) throw new SigwatchError('CONFIG', `no ClusterImagePolicy in ${location}: nothing to verify against`);
}

const DURATION_RE = /^(\d{1,7})(ms|s|m|h)$/;
const DURATION_UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** `500ms`, `5s`, `2m`, `1h` as milliseconds (a usage error otherwise, naming the flag). */
export function parseDuration(flag: string, value: string): number {
  const m = DURATION_RE.exec(value);
  const ms = m ? Number(m[1]) * DURATION_UNIT_MS[m[2] as keyof typeof DURATION_UNIT_MS] : NaN;
  if (!(ms > 0)) throw new SigwatchError('USAGE', `${flag} must be a positive duration such as 5s, 2m or 500ms, got "${value}"`);
  return ms;
}
