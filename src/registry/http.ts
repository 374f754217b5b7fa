import { deadlineError, remainingMs, sleepWithin } from '../deadline.ts';
import { SigwatchError } from '../errors.ts';
import { backoff, retry } from '../retry.ts';

/**
 * HTTP for registries: bounded in time, size and retries, counting every
 * request so that tests and benchmarks can hold round trips to a budget.
 * Redirects are followed by hand, because registries send blobs to other
 * hosts (S3, CDNs) and credentials must never go along.
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
  fetch?: typeof fetch;
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
  headers: Headers;
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
  private readonly fetchImpl: typeof fetch;
  readonly counter: RoundTripCounter;

  constructor(opts: HttpOptions = {}, counter = new RoundTripCounter()) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.attempts = Math.max(1, opts.attempts ?? 3);
    this.backoffMs = opts.backoffMs ?? 200;
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 10_000;
    this.fetchImpl = opts.fetch ?? fetch;
    this.counter = counter;
  }

  async send(req: HttpRequest, kind: string): Promise<HttpResponse> {
    const { signal } = req;
    const what = `${describe(req.url)} (${req.method})`;
    const attempt = async (): Promise<HttpResponse> => {
      const started = performance.now();
      try {
        return await this.followRedirects(req, kind);
      } catch (err) {
        if (signal?.aborted) throw deadlineError(signal, what, performance.now() - started);
        // Our own size and protocol checks are final; anything else is the network failing.
        if (err instanceof SigwatchError) throw err;
        throw new NetworkError(`${describe(req.url)}: ${networkReason(err, performance.now() - started, hostOf(req.url))}`, err);
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

  private async followRedirects(req: HttpRequest, kind: string): Promise<HttpResponse> {
    let url = req.url;
    let headers = { ...req.headers };
    const perRequest = AbortSignal.timeout(this.timeoutMs);
    const deadline = req.signal ? AbortSignal.any([req.signal, perRequest]) : perRequest;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      this.counter.add(kind);
      const res = await this.fetchImpl(url, {
        method: req.method,
        headers,
        body: req.body,
        redirect: 'manual',
        signal: deadline,
      });
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        await res.body?.cancel();
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
      const body = req.method === 'HEAD' ? Buffer.alloc(0) : await readCapped(res, req.maxBytes, url);
      return { status: res.status, headers: res.headers, body, url };
    }
    throw new SigwatchError('REGISTRY_PROTOCOL', `${describe(req.url)}: more than ${MAX_REDIRECTS} redirects`);
  }
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() !== 'authorization') out[k] = v;
  return out;
}

async function readCapped(res: Response, maxBytes: number, url: string): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel();
    throw new SigwatchError('TOO_LARGE', `${describe(url)}: response of ${declared} bytes exceeds the ${maxBytes}-byte limit`);
  }
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      // Stop reading at once: a hostile registry could stream forever.
      await res.body.cancel().catch(() => undefined);
      throw new SigwatchError('TOO_LARGE', `${describe(url)}: response exceeds the ${maxBytes}-byte limit`);
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks, size);
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

function networkReason(err: unknown, elapsedMs: number, host: string): string {
  if (err instanceof Error) {
    // The time actually spent on the last attempt (headers, or a body that stalled), not the setting.
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return `request timed out after ${Math.round(elapsedMs)} ms`;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    // OpenSSL's own text is a stack of internals; the code says it all.
    // Almost always a local registry without TLS: say how to reach one on purpose (plain HTTP is never guessed).
    if (cause?.code === 'ERR_SSL_WRONG_VERSION_NUMBER') {
      return `TLS handshake failed (${cause.code}): the server may speak plain HTTP; if it is a local test registry, name it insecure (--insecure-registry ${host}, or registries.insecure in a local config)`;
    }
    if (cause?.code?.startsWith('ERR_SSL_')) return `TLS handshake failed (${cause.code})`;
    if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message.trim()})` : ''}`;
    return err.message;
  }
  return String(err);
}
