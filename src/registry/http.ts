import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { finished } from 'node:stream/promises';
import { deadlineError, remainingMs, sleepWithin } from '../deadline.ts';
import { SigwatchError } from '../errors.ts';
import { backoff, retry } from '../retry.ts';

/**
 * HTTP for registries: bounded in time, size and retries, counting every
 * request so that tests and benchmarks can hold round trips to a budget.
 * Redirects are followed by hand, because registries send blobs to other
 * hosts (S3, CDNs) and credentials must never go along.
 *
 * The transport is node:http(s) with keep-alive agents, not `fetch`: undici
 * closes the connection after every HEAD (a new TCP and TLS handshake per tag
 * resolved, even in a warm process), and its WHATWG streams cost about half of
 * a warm verification's CPU (bench/transport.ts measures the two).
 */

export interface HttpOptions {
  /** Whole-request deadline, including reading the body. */
  timeoutMs?: number;
  /** Attempts on 429/5xx/network errors, the first included. */
  attempts?: number;
  /** Base for the jittered exponential backoff. */
  backoffMs?: number;
  /** Longest Retry-After we honour before giving up. */
  maxRetryAfterMs?: number;
  /**
   * Connections kept open per origin (scheme, host and port). Requests beyond
   * it wait for a free connection rather than open another: on a WAN a queued
   * request on a warm connection beats a new TLS handshake.
   */
  connectionsPerOrigin?: number;
}

/** What a response's headers answer: the one method callers use, as `Headers` has it. */
export interface ResponseHeaders {
  get(name: string): string | null;
}

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST';
  url: string;
  headers?: Record<string, string>;
  body?: string;
  /** Cap on the body we read; the request fails beyond it. */
  maxBytes: number;
  /**
   * The verification's deadline (src/deadline.ts): the request aborts when it
   * fires, and no retry starts whose wait would pass it.
   */
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: ResponseHeaders;
  body: Buffer;
  url: string;
}

/** Counts requests on the wire, by kind, for round-trip budgets. */
class RoundTripCounter {
  total = 0;
  readonly byKind = new Map<string, number>();
  add(kind: string): void {
    this.total++;
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1);
  }
  reset(): void {
    this.total = 0;
    this.byKind.clear();
  }
}

const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);
const MAX_REDIRECTS = 5;
export const DEFAULT_CONNECTIONS_PER_ORIGIN = 8;
const MAX_REDIRECT_BODY = 64 * 1024;
/** Idle connections are closed after this: below the idle timeouts of registries and load balancers (ALB 60 s, S3 20 s). */
const IDLE_SOCKET_MS = 15_000;

/** The connection failed (refused, reset, DNS, a stalled body): worth another attempt, unlike our own checks. */
class NetworkError extends SigwatchError {
  constructor(message: string, cause: unknown) {
    super('REGISTRY_UNREACHABLE', message, { cause });
  }
}

export class HttpClient {
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly agents: { 'http:': HttpAgent; 'https:': HttpsAgent };
  readonly counter: RoundTripCounter;

  constructor(opts: HttpOptions = {}, counter = new RoundTripCounter()) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.attempts = Math.max(1, opts.attempts ?? 3);
    this.backoffMs = opts.backoffMs ?? 200;
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 10_000;
    const agent = {
      keepAlive: true,
      maxSockets: Math.max(1, opts.connectionsPerOrigin ?? DEFAULT_CONNECTIONS_PER_ORIGIN),
      timeout: IDLE_SOCKET_MS,
      scheduling: 'lifo' as const,
    };
    this.agents = { 'http:': new HttpAgent(agent), 'https:': new HttpsAgent(agent) };
    this.counter = counter;
  }

  async send(req: HttpRequest, kind: string): Promise<HttpResponse> {
    const { signal } = req;
    const what = `${describe(req.url)} (${req.method})`;
    const attempt = async (): Promise<HttpResponse> => {
      const started = performance.now();
      const perRequest = AbortSignal.timeout(this.timeoutMs);
      try {
        return await this.followRedirects(req, kind, signal ? AbortSignal.any([signal, perRequest]) : perRequest);
      } catch (err) {
        if (signal?.aborted) throw deadlineError(signal, what, performance.now() - started);
        // Our own size and protocol checks are final; anything else is the network failing.
        if (err instanceof SigwatchError) throw err;
        const elapsed = performance.now() - started;
        const reason = perRequest.aborted ? `request timed out after ${Math.round(elapsed)} ms` : networkReason(err, hostOf(req.url));
        throw new NetworkError(`${describe(req.url)}: ${reason}`, err);
      }
    };
    return retry(attempt, {
      attempts: this.attempts,
      retryAfter: (o, n) => {
        if (o.ok && !RETRY_STATUS.has(o.value.status)) return undefined;
        if (!o.ok && !(o.error instanceof NetworkError)) return undefined;
        const wait = o.ok ? this.retryDelay(n, o.value.headers.get('retry-after'), o.value.headers.get('date')) : this.retryDelay(n, null);
        // A retry that would end past the deadline cannot help: the answer (or failure) we have is the one.
        return wait === undefined || wait >= remainingMs(signal) ? undefined : wait;
      },
      sleep: (ms) => sleepWithin(ms, signal, what),
    });
  }

  private retryDelay(attempt: number, retryAfter: string | null, date: string | null = null): number | undefined {
    if (retryAfter) {
      const seconds = Number(retryAfter);
      // An HTTP-date is read against the server's own Date header, so a skewed clock on either side cannot stretch or skip the wait.
      const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - Date.parse(date ?? '');
      if (!Number.isFinite(ms)) return undefined;
      return ms > this.maxRetryAfterMs ? undefined : Math.max(0, ms);
    }
    return backoff(attempt, { baseMs: this.backoffMs, maxMs: this.maxRetryAfterMs });
  }

  private async followRedirects(req: HttpRequest, kind: string, signal: AbortSignal): Promise<HttpResponse> {
    let url = req.url;
    let headers = { ...req.headers };
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      this.counter.add(kind);
      const res = await this.exchange(new URL(url), req.method, headers, req.body, signal, kind);
      const location = res.headers.location;
      if (res.statusCode! >= 300 && res.statusCode! < 400 && location) {
        // Read past, so the connection returns to the pool; a redirect body larger than that is not worth its connection.
        await readCapped(res, MAX_REDIRECT_BODY, url).catch(() => undefined);
        const next = new URL(location, url);
        if (next.protocol !== 'https:' && next.protocol !== 'http:') {
          throw new SigwatchError('REGISTRY_PROTOCOL', `${describe(url)}: redirect to unsupported scheme ${next.protocol}`);
        }
        // Downgrading to plain HTTP would expose content to tampering in transit.
        if (new URL(url).protocol === 'https:' && next.protocol === 'http:') {
          throw new SigwatchError('REGISTRY_PROTOCOL', `${describe(url)}: redirect from https to http refused`);
        }
        if (next.origin !== new URL(url).origin) {
          // A body (a token request's refresh token) is a credential too: it never follows to another origin.
          if (req.body !== undefined)
            throw new SigwatchError('REGISTRY_PROTOCOL', `${describe(url)}: redirect of a ${req.method} with a body to ${next.host} refused`);
          headers = withoutAuthorization(headers);
        }
        url = next.toString();
        continue;
      }
      // A HEAD's end is awaited too: its connection returns to the pool then, and the next request can take it.
      const body = req.method === 'HEAD' ? await endOfHead(res) : await readCapped(res, req.maxBytes, url);
      return { status: res.statusCode!, headers: new NodeHeaders(res.headers), body, url };
    }
    throw new SigwatchError('REGISTRY_PROTOCOL', `${describe(req.url)}: more than ${MAX_REDIRECTS} redirects`);
  }

  /**
   * One request and its response head, on a pooled connection. A kept-alive
   * connection the server closed while it sat idle fails at once on reuse
   * (ECONNRESET, EPIPE): that request never reached the server, so it is sent
   * again on another connection, as Node's documentation advises
   * (`request.reusedSocket`), rather than counted as the registry failing.
   */
  private async exchange(
    url: URL,
    method: string,
    headers: Record<string, string>,
    body: string | undefined,
    signal: AbortSignal,
    kind: string,
  ): Promise<IncomingMessage> {
    const protocol = url.protocol;
    if (protocol !== 'http:' && protocol !== 'https:') throw new SigwatchError('REGISTRY_PROTOCOL', `${describe(url.href)}: unsupported scheme ${protocol}`);
    const send = protocol === 'https:' ? httpsRequest : httpRequest;
    for (let stale = 0; ; stale++) {
      try {
        return await new Promise<IncomingMessage>((resolve, reject) => {
          const r = send(url, { method, headers, agent: this.agents[protocol], signal }, resolve);
          // `on`, not `once`: a request can emit a second error (an abort after a reset), and an unheard one would crash the process.
          r.on('error', (err) => reject(Object.assign(err, { reusedSocket: r.reusedSocket })));
          r.end(body);
        });
      } catch (err) {
        const e = err as NodeJS.ErrnoException & { reusedSocket?: boolean };
        if (!e.reusedSocket || (e.code !== 'ECONNRESET' && e.code !== 'EPIPE') || signal.aborted || stale >= 2) throw err;
        this.counter.add(kind);
      }
    }
  }

  /** Closes idle connections: for processes that want to exit without waiting for them (they never hold a process open). */
  close(): void {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }
}

/** Node's parsed headers (names lower-cased, repeats joined) read like `Headers`. */
class NodeHeaders implements ResponseHeaders {
  private readonly raw: IncomingHttpHeaders;
  constructor(raw: IncomingHttpHeaders) {
    this.raw = raw;
  }
  get(name: string): string | null {
    const v = this.raw[name.toLowerCase()];
    if (v === undefined) return null;
    return Array.isArray(v) ? v.join(', ') : v;
  }
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() !== 'authorization') out[k] = v;
  return out;
}

async function endOfHead(res: IncomingMessage): Promise<Buffer> {
  res.resume();
  await finished(res);
  return Buffer.alloc(0);
}

async function readCapped(res: IncomingMessage, maxBytes: number, url: string): Promise<Buffer> {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    res.destroy();
    throw new SigwatchError('TOO_LARGE', `${describe(url)}: response of ${declared} bytes exceeds the ${maxBytes}-byte limit`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      // Stop reading at once: a hostile registry could stream forever.
      res.destroy();
      throw new SigwatchError('TOO_LARGE', `${describe(url)}: response exceeds the ${maxBytes}-byte limit`);
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

/**
 * A registry answer other than 200 as the error it is: 429 and 5xx (already
 * retried) mean the registry is unavailable, anything else breaks the protocol.
 */
export function expectOk(res: HttpResponse, where: string): void {
  if (res.status === 200) return;
  const code = res.status === 429 || res.status >= 500 ? 'REGISTRY_UNREACHABLE' : 'REGISTRY_PROTOCOL';
  throw new SigwatchError(code, `${where}: registry answered HTTP ${res.status}`);
}

/** URL without query string: query strings of pre-signed URLs carry credentials. */
export function describe(url: string): string {
  try {
    const u = new URL(url);
    return `${u.host}${u.pathname}`;
  } catch {
    return 'invalid URL';
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'HOST:PORT';
  }
}

function networkReason(err: unknown, host: string): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    // OpenSSL's own text is a stack of internals; the code says it all.
    // Almost always a local registry without TLS: say how to reach one on purpose (plain HTTP is never guessed).
    // Node's https reports a plain-HTTP answer to its ClientHello as EPROTO on the write (undici as ERR_SSL_WRONG_VERSION_NUMBER).
    if (code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') {
      return `TLS handshake failed (${code}): the server may speak plain HTTP; if it is a local test registry, name it insecure (--insecure-registry ${host}, or registries.insecure in a local config)`;
    }
    if (code?.startsWith('ERR_SSL_')) return `TLS handshake failed (${code})`;
    if (code === 'ECONNRESET' && err.message === 'aborted') return 'ECONNRESET (the connection closed before the response ended)';
    if (code) return `${code}${err.message && err.message !== code ? ` (${err.message.trim()})` : ''}`;
    return err.message;
  }
  return String(err);
}
