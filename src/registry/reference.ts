import { SigwatchError } from '../errors.ts';

/**
 * Image references parsed exactly as go-containerregistry's `pkg/name` parses
 * them, because policy-controller matches ClusterImagePolicy globs against
 * `ref.Name()` of that parser (weak validation, its default) and validates
 * `source.oci` with its strict mode: the same string must come out here, or a
 * copied policy would cover other images than it does in a cluster.
 *
 * The rules are deliberately loose where Go's are (a repository is any 1–255
 * characters of `a-z0-9_-./`, so `a//b` passes) and strict where Go's are
 * (a registry must survive Go's `url.Parse("//" + registry)` unchanged).
 */
export const DEFAULT_REGISTRY = 'index.docker.io';
const REGISTRY_ALIAS = 'docker.io';
const DEFAULT_TAG = 'latest';
const DEFAULT_NAMESPACE = 'library';

const TAG_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789_-.ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const REPOSITORY_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789_-./';
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export interface RepositoryRef {
  /** Registry host as used on the wire, `index.docker.io` for Docker Hub. */
  readonly registry: string;
  /** Repository path, `library/` added for single-name Docker Hub images. */
  readonly repository: string;
  /** `registry/repository` (go-containerregistry `Repository.Name()`). */
  readonly repositoryName: string;
}

export interface ImageRef extends RepositoryRef {
  readonly tag?: string;
  readonly digest?: string;
  /** go-containerregistry `Reference.Name()`: `repo:tag` or `repo@digest`. */
  readonly name: string;
}

export interface NameOptions {
  /** go-containerregistry `StrictValidation`: no implied registry, tag or `library/`. */
  strict?: boolean;
}

/**
 * `name.ParseReference(input)`: a tag reference if it parses as one, else a
 * digest reference. A tag before the digest (`repo:v1@sha256:…`) is dropped.
 */
export function parseReference(input: string): ImageRef {
  // No tag reference contains `@`, so for one that does Go's order (tag, then digest) gives what the
  // digest parse gives; trying it first spares a thrown error per pinned reference, which policy
  // matching makes for every image it judges.
  if (input.includes('@')) {
    const first = attempt(() => newDigest(input));
    if (first.ok) return first.value;
  }
  const asTag = attempt(() => newTag(input));
  if (asTag.ok) return asTag.value;
  const asDigest = attempt(() => newDigest(input));
  if (asDigest.ok) return asDigest.value;
  // Go says only "could not parse reference"; the likelier reason helps people.
  const reason = input.includes('@') ? asDigest.error : asTag.error;
  throw new SigwatchError('REFERENCE_INVALID', `could not parse reference: ${input} (${reason})`);
}

/**
 * A reference sigwatch will fetch from a registry. go-containerregistry's
 * parse (what policy globs are matched against, above) checks characters, not
 * structure: `host/dev/../prod/app` passes it, is matched against dev's globs,
 * and Node's URL handling would then fetch `prod/app`. So a reference to fetch
 * must also be one the distribution reference grammar (distribution/reference
 * `regexp.go`, what a registry serves) accepts: the stricter of the two wins.
 */
export function parseFetchableReference(input: string): ImageRef {
  const ref = parseReference(input);
  const problem =
    distributionProblem(ref.registry, ref.repository) ??
    (ref.tag !== undefined && !DISTRIBUTION_TAG_RE.test(ref.tag) ? `tag "${ref.tag}" does not start with a letter, digit or "_"` : undefined);
  if (problem) throw new SigwatchError('REFERENCE_INVALID', `could not parse reference: ${input} (${problem}: not a distribution reference)`);
  return ref;
}

/**
 * Why a registry and repository are not a distribution name, or undefined when
 * they are: every path component lowercase letters and digits joined by one
 * `.`, one or two `_`, or dashes (so no `.`, `..` or empty component, no `%`),
 * the host a DNS-like name, IPv4 or bracketed IPv6 with an optional port, and
 * the whole name at most 255 characters.
 */
export function distributionProblem(registry: string, repository: string): string | undefined {
  const bad = repository.split('/').find((component) => !PATH_COMPONENT_RE.test(component));
  if (bad !== undefined)
    return bad === ''
      ? `empty path component in "${clip(repository)}"`
      : `path component "${clip(bad)}" of "${clip(repository)}" is not lowercase letters and digits joined by ".", "_", "__" or "-"`;
  if (!DOMAIN_RE.test(registry)) return `registry "${clip(registry)}" is not a host name, IPv4 or [IPv6] address with an optional port`;
  // distribution counts the name as it normalises it: `docker.io/library/ubuntu`.
  const name = `${registry === DEFAULT_REGISTRY ? REGISTRY_ALIAS : registry}/${repository}`;
  if (name.length > NAME_TOTAL_LENGTH_MAX) return `name of ${name.length} characters is longer than ${NAME_TOTAL_LENGTH_MAX}`;
  return undefined;
}

/** A name quoted in a reason: enough to recognise, never the whole of a huge one. */
function clip(s: string): string {
  return s.length > 120 ? `${s.slice(0, 120)}…` : s;
}

// distribution/reference regexp.go, written out.
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const DISTRIBUTION_TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const NAME_TOTAL_LENGTH_MAX = 255;

/** `name.NewRepository(input)`; throws with go-containerregistry's message. */
export function parseRepository(input: string, opts: NameOptions = {}): RepositoryRef {
  if (input.length === 0) throw badName('a repository name must be specified');
  let registry = '';
  let repository = input;
  const slash = input.indexOf('/');
  if (slash >= 0) {
    const first = input.slice(0, slash);
    if (first === 'localhost' || first.includes('.') || first.includes(':')) {
      registry = first;
      repository = input.slice(slash + 1);
    }
  }
  checkElement('repository', repository, REPOSITORY_CHARS, 1, 255);
  const host = parseRegistry(registry, opts);
  const implicitNamespace = host === DEFAULT_REGISTRY && !repository.includes('/');
  if (implicitNamespace && opts.strict) {
    throw badName("strict validation requires the full repository path (missing 'library')");
  }
  const path = implicitNamespace ? `${DEFAULT_NAMESPACE}/${repository}` : repository;
  return { registry: host, repository: path, repositoryName: `${host}/${path}` };
}

/** `name.NewRegistry(input)`: the registry host, `index.docker.io` for none or `docker.io`. */
export function parseRegistry(input: string, opts: NameOptions = {}): string {
  if (opts.strict && input.length === 0) throw badName('strict validation requires the registry to be explicitly defined');
  let host: string | undefined;
  try {
    host = parseGoUrl(`//${input}`).host;
  } catch {
    host = undefined;
  }
  if (host !== input) throw badName(`registries must be valid RFC 3986 URI authorities: ${input}`);
  if (input === '' || input === REGISTRY_ALIAS) return DEFAULT_REGISTRY;
  return input;
}

/** The same repository with another tag or digest. */
export function withTag(ref: RepositoryRef, tag: string): ImageRef {
  return { registry: ref.registry, repository: ref.repository, repositoryName: ref.repositoryName, tag, name: `${ref.repositoryName}:${tag}` };
}

export function withDigest(ref: RepositoryRef, digest: string): ImageRef {
  return {
    registry: ref.registry,
    repository: ref.repository,
    repositoryName: ref.repositoryName,
    digest,
    name: `${ref.repositoryName}@${digest}`,
  };
}

export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

function newTag(input: string): ImageRef {
  let base = input;
  let tag = '';
  const parts = input.split(':');
  const last = parts[parts.length - 1]!;
  // Only a last part without '/' is a tag; `host:5000/repo` has a port instead.
  if (parts.length > 1 && !last.includes('/')) {
    base = parts.slice(0, -1).join(':');
    tag = last;
    if (tag === '') throw badName(`${input} must specify a tag name after the colon`);
    checkElement('tag', tag, TAG_CHARS, 1, 128);
  }
  return withTag(parseRepository(base), tag === '' ? DEFAULT_TAG : tag);
}

function newDigest(input: string): ImageRef {
  const parts = input.split('@');
  if (parts.length !== 2) {
    throw badName(`a digest must contain exactly one '@' separator (e.g. registry/repository@digest) saw: ${input}`);
  }
  let base = parts[0]!;
  const digest = parts[1]!;
  if (!digest.startsWith('sha256:')) throw badName(`unsupported digest algorithm: ${digest}`);
  const hex = digest.slice('sha256:'.length);
  // go-digest's messages: length first, then the lowercase-hex format.
  if (hex.length !== 64) throw badName('invalid checksum digest length');
  if (!/^[a-f0-9]{64}$/.test(hex)) throw badName('invalid checksum digest format');
  const tagged = attempt(() => newTag(base));
  if (tagged.ok) base = tagged.value.repositoryName;
  return withDigest(parseRepository(base), digest);
}

function checkElement(kind: string, element: string, allowed: string, min: number, max: number): void {
  const runes = Array.from(element);
  if (runes.length < min || runes.length > max) {
    throw badName(`${kind} must be between ${min} and ${max} characters in length: ${element}`);
  }
  if (runes.some((r) => !allowed.includes(r))) throw badName(`${kind} can only contain the characters \`${allowed}\`: ${element}`);
}

function badName(message: string): SigwatchError {
  return new SigwatchError('REFERENCE_INVALID', message);
}

type Attempt<T> = { ok: true; value: T } | { ok: false; error: string };

function attempt<T>(fn: () => T): Attempt<T> {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

// ---------------------------------------------------------------------------
// Go's net/url parser, the parts that decide acceptance. go-containerregistry
// checks registries with it, and policy-controller's URL fields (apis.URL) and
// predicate types go through it, so its quirks are part of what a policy means.

export interface GoUrl {
  scheme: string;
  host: string;
  /** `scheme:rest` without `//`, e.g. `urn:x`. */
  opaque: string;
  path: string;
}

/**
 * `url.Parse(raw)`, or `url.ParseRequestURI(raw)` with `request`. Throws an
 * Error whose message is Go's (`parse "RAW": REASON`).
 */
export function parseGoUrl(raw: string, opts: { request?: boolean } = {}): GoUrl {
  const request = opts.request ?? false;
  // Parse cuts the fragment off first; ParseRequestURI keeps '#' in the path.
  const hash = request ? -1 : raw.indexOf('#');
  const main = hash >= 0 ? raw.slice(0, hash) : raw;
  let url: GoUrl;
  try {
    url = parseUrlBody(main, request);
  } catch (err) {
    throw new SigwatchError('REFERENCE_INVALID', `parse ${goQuote(main)}: ${(err as Error).message}`, { cause: err });
  }
  if (hash >= 0) {
    try {
      unescape(raw.slice(hash + 1), 'other');
    } catch (err) {
      throw new SigwatchError('REFERENCE_INVALID', `parse ${goQuote(raw)}: ${(err as Error).message}`, { cause: err });
    }
  }
  return url;
}

function parseUrlBody(raw: string, request: boolean): GoUrl {
  if ([...raw].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f))
    throw new SigwatchError('REFERENCE_INVALID', 'net/url: invalid control character in URL');
  if (raw === '' && request) throw new SigwatchError('REFERENCE_INVALID', 'empty url');
  const url: GoUrl = { scheme: '', host: '', opaque: '', path: '' };
  if (raw === '*') return { ...url, path: '*' };
  let rest = raw;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(raw);
  if (raw.startsWith(':')) throw new SigwatchError('REFERENCE_INVALID', 'missing protocol scheme');
  if (scheme) {
    url.scheme = scheme[0].slice(0, -1).toLowerCase();
    rest = raw.slice(scheme[0].length);
  }
  const query = rest.indexOf('?');
  if (query >= 0) rest = rest.slice(0, query);
  if (!rest.startsWith('/')) {
    if (url.scheme !== '') return { ...url, opaque: rest };
    if (request) throw new SigwatchError('REFERENCE_INVALID', 'invalid URI for request');
    if (rest.split('/')[0]!.includes(':')) throw new SigwatchError('REFERENCE_INVALID', 'first path segment in URL cannot contain colon');
  }
  if ((url.scheme !== '' || (!request && !rest.startsWith('///'))) && rest.startsWith('//')) {
    const authority = rest.slice(2).split('/')[0]!;
    rest = rest.slice(2 + authority.length);
    url.host = parseAuthority(authority);
  }
  unescape(rest, 'other');
  url.path = rest;
  return url;
}

function parseAuthority(authority: string): string {
  const at = authority.lastIndexOf('@');
  const host = parseHost(authority.slice(at + 1));
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    if (!/^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/.test(userinfo)) throw new SigwatchError('REFERENCE_INVALID', 'net/url: invalid userinfo');
    unescape(userinfo, 'other');
  }
  return host;
}

function parseHost(host: string): string {
  if (host.startsWith('[')) {
    const close = host.lastIndexOf(']');
    if (close < 0) throw new SigwatchError('REFERENCE_INVALID', "missing ']' in host");
    const port = host.slice(close + 1);
    if (!validOptionalPort(port)) throw new SigwatchError('REFERENCE_INVALID', `invalid port ${goQuote(port)} after host`);
    // RFC 6874 zones (`%25en0`) may use any escape; we only check they decode.
    const zone = host.slice(0, close).indexOf('%25');
    if (zone >= 0) {
      return unescape(host.slice(0, zone), 'host') + unescape(host.slice(zone, close), 'other') + unescape(host.slice(close), 'host');
    }
  } else {
    const colon = host.lastIndexOf(':');
    if (colon >= 0 && !validOptionalPort(host.slice(colon))) {
      throw new SigwatchError('REFERENCE_INVALID', `invalid port ${goQuote(host.slice(colon))} after host`);
    }
  }
  return unescape(host, 'host');
}

function validOptionalPort(port: string): boolean {
  return port === '' || /^:[0-9]*$/.test(port);
}

// ASCII characters a Go URL host may hold unescaped; every non-ASCII one may too.
const HOST_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:[\]<>"]$/;

function unescape(s: string, mode: 'host' | 'other'): string {
  let out = '';
  for (let i = 0; i < s.length;) {
    const c = s[i]!;
    if (c === '%') {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new SigwatchError('REFERENCE_INVALID', `invalid URL escape ${goQuote(s.slice(i, i + 3))}`);
      // Hosts may only escape non-ASCII bytes (and the zone's "%25").
      if (mode === 'host' && parseInt(hex[0]!, 16) < 8 && hex !== '25')
        throw new SigwatchError('REFERENCE_INVALID', `invalid URL escape ${goQuote(s.slice(i, i + 3))}`);
      out += String.fromCharCode(parseInt(hex, 16));
      i += 3;
      continue;
    }
    if (mode === 'host' && c.charCodeAt(0) < 0x80 && !HOST_CHARS.test(c))
      throw new SigwatchError('REFERENCE_INVALID', `invalid character ${goQuote(c)} in host name`);
    out += c;
    i += 1;
  }
  return out;
}

/** Go's `%q` for the ASCII strings these messages quote. */
function goQuote(s: string): string {
  return JSON.stringify(s);
}
