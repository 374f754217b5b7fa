import { SigwatchError } from '../errors.ts';
import { basicHeader, fetchBearerToken, parseChallenge, TokenCache, type Challenge } from './auth.ts';
import { anonymous, type Credential, type CredentialLookup } from './credentials.ts';
import { assertDigest } from './digest.ts';
import { withinDeadline } from '../deadline.ts';
import { describe, expectOk, HttpClient, type HttpOptions, type HttpResponse } from './http.ts';
import { parseManifest } from './manifest.ts';
import { registryReferrers } from './referrers.ts';
import { distributionProblem, isDigest, type ImageRef } from './reference.ts';
import { MANIFEST_ACCEPT, MAX_MANIFEST_BYTES, type Descriptor, type Manifest, type Repository } from './types.ts';
import type { Clock } from '../clock.ts';

export interface RegistryClientOptions extends HttpOptions {
  credentials?: CredentialLookup;
  /** Hosts (`host:port`) reached over plain HTTP. Everything else is HTTPS. */
  insecureHosts?: Iterable<string>;
  /** When bearer tokens expire. */
  now: Clock;
}

/** One request below `/v2/<name>/`; `path` may carry a query. */
export interface RegistryRequest {
  method: 'GET' | 'HEAD';
  path: string;
  accept?: string;
  maxBytes: number;
}

/**
 * An OCI distribution client shared by every verification in a process, so
 * that connections (kept alive per origin by the HTTP client), auth challenges,
 * tokens and what each registry supports are learned once and reused.
 */
export class RegistryClient {
  readonly http: HttpClient;
  private readonly credentials: CredentialLookup;
  private readonly insecure: Set<string>;
  /**
   * Challenges by origin (scheme, host and port), as containerd keys its auth
   * handlers by the host that answered: learned only from the registry's own
   * 401, never from a host a redirect led to.
   */
  private readonly challenges = new Map<string, Challenge>();
  private readonly tokens: TokenCache;
  /** Token fetches under way, so concurrent requests for one scope share one. */
  private readonly pendingTokens = new Map<string, Promise<string>>();
  private readonly withoutReferrersApi = new Set<string>();

  constructor(opts: RegistryClientOptions) {
    this.http = new HttpClient(opts);
    this.tokens = new TokenCache(opts.now);
    this.credentials = opts.credentials ?? anonymous;
    this.insecure = new Set(opts.insecureHosts ?? []);
  }

  /**
   * A repository of a registry. `credentials` replaces the client's lookup for
   * it: an authority's `signaturePullSecrets` chained before the defaults.
   * `signal`: the deadline of the verification it is opened for (src/deadline.ts);
   * every request made through the repository honours it.
   */
  repository(ref: Pick<ImageRef, 'registry' | 'repository'>, credentials?: CredentialLookup, signal?: AbortSignal): Repository {
    return new RegistryRepository(this, ref.registry, ref.repository, credentials ?? this.credentials, signal);
  }

  /** The lookup this client uses when a repository is given none of its own. */
  get defaultCredentials(): CredentialLookup {
    return this.credentials;
  }

  /** The API host: Docker Hub's API is not served at its name. */
  private apiHost(registry: string): string {
    return registry === 'index.docker.io' ? 'registry-1.docker.io' : registry;
  }

  /** HTTPS unless the operator named the host insecure: never guessed, not even for localhost. */
  baseUrl(registry: string): string {
    return `${this.insecure.has(registry) ? 'http' : 'https'}://${this.apiHost(registry)}`;
  }

  /**
   * One authenticated request. A registry's challenge is learned from its
   * first 401 and the request sent once more; after that, credentials or
   * tokens go with the first request, so auth costs no extra round trip.
   * Before any challenge is known, a credential the registry itself takes
   * (Basic, or a `registrytoken` as Bearer) goes with the first request when
   * the registry is reached over HTTPS (see `preemptive`), so a cold process
   * pays no 401 either.
   */
  async request(
    registry: string,
    repository: string,
    req: RegistryRequest,
    kind: string,
    credentials: CredentialLookup = this.credentials,
    signal?: AbortSignal,
  ): Promise<HttpResponse> {
    const url = this.requestUrl(registry, repository, req.path);
    const origin = new URL(url).origin;
    const credential = await credentials(registry, repository);
    const send = async () => {
      const headers: Record<string, string> = {};
      if (req.accept) headers.accept = req.accept;
      const sent = await this.authorization(origin, registry, repository, credential, signal);
      if (sent) headers.authorization = sent.header;
      const res = await this.http.send({ method: req.method, url, headers, maxBytes: req.maxBytes, ...(signal ? { signal } : {}) }, kind);
      return { res, sent };
    };
    const first = await send();
    const { sent } = first;
    let { res } = first;
    if (res.status === 401) {
      // A host the registry redirected to (blob storage, a CDN) speaks for itself, not for the registry:
      // its challenge is never learned as the registry's, so the registry's credentials never reach a realm it names.
      if (originOf(res.url) !== origin) throw redirectAuthError(url, res, registry);
      const challenge = parseChallenge(res.headers.get('www-authenticate'));
      if (!challenge) throw authError(url, res.status, credential);
      // Learned whatever was sent: from now on this origin gets only what its challenge asks for,
      // never a preemptive credential again (a Bearer registry gets tokens, not the password).
      this.challenges.set(origin, challenge);
      // The credential itself was sent, under the scheme the registry asks for: it was refused, and would be again.
      if (sent?.how === 'preemptive' && challenge.scheme === (credential?.kind === 'basic' ? 'basic' : 'bearer')) {
        throw authError(url, res.status, credential);
      }
      // A token we sent was refused (expired, revoked): drop it, unless another request already replaced it, and fetch a new one, once.
      if (sent?.how === 'token' && challenge.scheme === 'bearer') this.tokens.delete(sent.key, sent.token);
      if (challenge.scheme === 'basic' && credential?.kind !== 'basic') throw authError(url, res.status, credential);
      ({ res } = await send());
      if (res.status === 401 && originOf(res.url) !== origin) throw redirectAuthError(url, res, registry);
      if (res.status === 401) throw authError(url, res.status, credential);
    }
    if (res.status === 403 && originOf(res.url) !== origin) throw redirectAuthError(url, res, registry);
    if (res.status === 403) throw authError(url, res.status, credential);
    return res;
  }

  /**
   * The URL of a request, built from a repository name the distribution
   * grammar accepts (whatever parsed it): no `.` or `..` component, no escape,
   * nothing URL parsing could fold into another repository's path. Parsing
   * must leave the path exactly as built, or nothing is sent.
   */
  private requestUrl(registry: string, repository: string, path: string): string {
    const problem = distributionProblem(registry, repository);
    if (problem) throw new SigwatchError('REFERENCE_INVALID', `${registry}/${repository}: ${problem}: not a distribution repository name, nothing requested`);
    const pathname = `/v2/${repository}/${path.split('?')[0]!}`;
    const url = `${this.baseUrl(registry)}/v2/${repository}/${path}`;
    if (new URL(url).pathname !== pathname) {
      throw new SigwatchError(
        'REFERENCE_INVALID',
        `${registry}/${repository}: request path ${JSON.stringify(pathname.slice(0, 200))} would not be sent as written`,
      );
    }
    return url;
  }

  /** Whether the registry may have the referrers API: false once it answered like one without. */
  mayHaveReferrersApi(registry: string): boolean {
    return !this.withoutReferrersApi.has(registry);
  }

  markNoReferrersApi(registry: string): void {
    this.withoutReferrersApi.add(registry);
  }

  /**
   * What goes with a request to `origin`: what that origin's own challenge
   * asked for, or before it asked, what `preemptive` allows.
   */
  private async authorization(
    origin: string,
    registry: string,
    repository: string,
    credential: Credential | undefined,
    signal: AbortSignal | undefined,
  ): Promise<SentAuthorization | undefined> {
    const challenge = this.challenges.get(origin);
    if (!challenge) return preemptive(origin, credential);
    if (challenge.scheme === 'basic') {
      return credential?.kind === 'basic' ? { how: 'challenged', header: basicHeader(credential) } : undefined;
    }
    const where = `${registry}/${repository}`;
    const key = tokenKey(origin, repository, credential);
    const cached = this.tokens.get(key);
    if (cached) return { how: 'token', header: `Bearer ${cached}`, key, token: cached };
    let pending = this.pendingTokens.get(key);
    if (!pending) {
      pending = fetchBearerToken(this.http, {
        challenge,
        scope: `repository:${repository}:pull`,
        credential,
        where,
        allowInsecure: (host) => this.insecure.has(host),
      })
        .then((t) => {
          this.tokens.set(key, t.token, t.expiresIn);
          return t.token;
        })
        .finally(() => this.pendingTokens.delete(key));
      this.pendingTokens.set(key, pending);
    }
    // A token fetch is shared by concurrent verifications, so it runs on the client's own timeouts; each waits only until its own deadline.
    const token = await withinDeadline(pending, signal, `a token for ${where}`);
    return { how: 'token', header: `Bearer ${token}`, key, token };
  }
}

/** The Authorization a request carried, and why: what a 401 to it means depends on that. */
type SentAuthorization = { how: 'preemptive' | 'challenged'; header: string } | { how: 'token'; header: string; key: string; token: string };

/**
 * A credential sent before the origin asked for one: only a credential the
 * registry takes as it is (Basic; a `registrytoken`, which is already a
 * Bearer token), and only over HTTPS.
 *
 * - The credential is the one the lookup chose for this registry and
 *   repository (Docker config's longest prefix, ECR's and GCP's providers'
 *   own hosts), and `origin` is that registry's own API origin: nothing goes
 *   to a host the credential was not configured for. A redirect target never
 *   sees it (HttpClient drops Authorization across origins).
 * - Over HTTPS only the registry's certified host can read it, and that host
 *   could already obtain it by answering with a Basic challenge, or with a
 *   Bearer realm on itself: sending it first widens nobody's access.
 * - Over plain HTTP (hosts the operator named insecure) anyone on the path
 *   reads it. An active attacker could provoke it with a forged 401 anyway,
 *   but a passive one sees it only if it is sent: today it goes out in clear
 *   only when the registry asks for Basic, never to an anonymous repository
 *   nor to a Bearer registry whose HTTPS realm would receive it instead.
 *   Insecure hosts are local and test registries, where one 401 per process
 *   costs nothing, so they keep learning the challenge first.
 * - An identity token is a refresh token for the token realm, never for the
 *   registry: it is never sent preemptively.
 */
function preemptive(origin: string, credential: Credential | undefined): SentAuthorization | undefined {
  if (!origin.startsWith('https://') || !credential) return undefined;
  if (credential.kind === 'basic') return { how: 'preemptive', header: basicHeader(credential) };
  if (credential.kind === 'registry-token') return { how: 'preemptive', header: `Bearer ${credential.token}` };
  return undefined;
}

// OCI distribution spec tag grammar.
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/**
 * A tag or digest becomes a URL path segment: anything else (`sha256:../x`
 * from a hostile referrers list, a tag with `/`) could walk the URL to
 * another path of the registry, credentials attached. Refused before any request.
 */
function checkReference(reference: string, location: string): void {
  if (!isDigest(reference) && !TAG_RE.test(reference)) {
    throw new SigwatchError('REFERENCE_INVALID', `${location}: ${JSON.stringify(reference.slice(0, 80))} is neither a tag nor a sha256 digest`);
  }
}

/**
 * A token's scope is one repository of one origin, and who asked: two pull
 * secrets for one repository get separate tokens.
 */
function tokenKey(origin: string, repository: string, credential: Credential | undefined): string {
  const who = credential ? (credential.kind === 'basic' ? credential.username : credential.kind) : 'anonymous';
  return `${origin}/${repository}|${who}`;
}

/** `scheme://host:port` of a URL (the port only when not the scheme's default, as URL.origin gives it). */
function originOf(url: string): string {
  return new URL(url).origin;
}

/** A host the registry redirected to refused the request, which carried no credentials and never will. */
function redirectAuthError(url: string, res: HttpResponse, registry: string): SigwatchError {
  return new SigwatchError(
    'REGISTRY_AUTH',
    `${describe(url)}: redirected to ${new URL(res.url).host}, which answered HTTP ${res.status}; the credentials for ${registry} go only to ${registry} and to the token service its own challenge names, never to a host it redirects to`,
  );
}

function authError(url: string, status: number, credential: Credential | undefined): SigwatchError {
  const how = credential ? 'with the configured credentials' : 'anonymously (no credentials configured for it)';
  return new SigwatchError('REGISTRY_AUTH', `${describe(url)}: access denied ${how} (HTTP ${status})`);
}

class RegistryRepository implements Repository {
  readonly location: string;
  private readonly client: RegistryClient;
  private readonly registry: string;
  private readonly name: string;

  private readonly credentials: CredentialLookup;
  private readonly signal: AbortSignal | undefined;

  constructor(client: RegistryClient, registry: string, name: string, credentials: CredentialLookup, signal: AbortSignal | undefined) {
    this.client = client;
    this.registry = registry;
    this.name = name;
    this.credentials = credentials;
    this.signal = signal;
    this.location = `${registry}/${name}`;
  }

  async resolve(reference: string): Promise<string | undefined> {
    return isDigest(reference) ? reference : (await this.resolveTag(reference))?.digest;
  }

  async resolveTag(tag: string): Promise<Descriptor | undefined> {
    checkReference(tag, this.location);
    const res = await this.client.request(
      this.registry,
      this.name,
      { method: 'HEAD', path: `manifests/${tag}`, accept: MANIFEST_ACCEPT, maxBytes: 0 },
      'manifest-head',
      this.credentials,
      this.signal,
    );
    if (res.status === 404) return undefined;
    expectOk(res, `${this.location}:${tag}`);
    const digest = res.headers.get('docker-content-digest');
    if (!digest || !isDigest(digest)) {
      // Without the header we must hash the body ourselves.
      const m = await this.getManifest(tag);
      return m && { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
    }
    return {
      mediaType: (res.headers.get('content-type') ?? '').split(';')[0]!.trim(),
      digest,
      size: Number(res.headers.get('content-length') ?? 0),
    };
  }

  async getManifest(reference: string): Promise<Manifest | undefined> {
    checkReference(reference, this.location);
    const where = `${this.location}${isDigest(reference) ? '@' : ':'}${reference}`;
    const res = await this.client.request(
      this.registry,
      this.name,
      { method: 'GET', path: `manifests/${reference}`, accept: MANIFEST_ACCEPT, maxBytes: MAX_MANIFEST_BYTES },
      'manifest',
      this.credentials,
      this.signal,
    );
    if (res.status === 404) return undefined;
    expectOk(res, where);
    return parseManifest(res.body, {
      digest: isDigest(reference) ? reference : undefined,
      mediaType: res.headers.get('content-type') ?? undefined,
      where,
    });
  }

  async getBlob(descriptor: Descriptor, maxBytes: number): Promise<Buffer> {
    if (!isDigest(descriptor.digest)) {
      throw new SigwatchError(
        'REGISTRY_PROTOCOL',
        `${this.location}: unsupported blob digest ${JSON.stringify(descriptor.digest.slice(0, 80))} (only sha256 is accepted)`,
      );
    }
    const where = `${this.location}@${descriptor.digest}`;
    if (descriptor.size > maxBytes) {
      throw new SigwatchError('TOO_LARGE', `${where}: blob of ${descriptor.size} bytes exceeds the ${maxBytes}-byte limit`);
    }
    const res = await this.client.request(
      this.registry,
      this.name,
      { method: 'GET', path: `blobs/${descriptor.digest}`, maxBytes: descriptor.size },
      'blob',
      this.credentials,
      this.signal,
    );
    if (res.status === 404) throw new SigwatchError('REGISTRY_NOT_FOUND', `${where}: blob not found`);
    expectOk(res, where);
    if (res.body.length !== descriptor.size) {
      throw new SigwatchError('DIGEST_MISMATCH', `${where}: blob is ${res.body.length} bytes, descriptor says ${descriptor.size}`);
    }
    assertDigest(res.body, descriptor.digest, where);
    return res.body;
  }

  referrers(digest: string, artifactType?: string): Promise<Descriptor[]> {
    const { client, registry, name } = this;
    return registryReferrers(
      {
        location: this.location,
        baseUrl: `${client.baseUrl(registry)}/v2/${name}/`,
        get: (path, accept, maxBytes) => client.request(registry, name, { method: 'GET', path, accept, maxBytes }, 'referrers', this.credentials, this.signal),
        getManifest: (reference) => this.getManifest(reference),
      },
      digest,
      artifactType,
      { mayHaveApi: () => client.mayHaveReferrersApi(registry), markNoApi: () => client.markNoReferrersApi(registry) },
    );
  }
}
