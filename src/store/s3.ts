import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { SigwatchError } from '../errors.ts';
import { MAX_FILE_BYTES } from '../policy/limits.ts';
import { loadPolicySets } from './load-policy-sets.ts';
import type { LoadOptions, LoadedPolicySet, PolicyFile } from './policy-set.ts';

/**
 * The policy store in S3: the policy files under a key prefix, read with a
 * client the caller builds (credentials and region are the caller's business).
 *
 * A warm Lambda calls `load()` on every invocation, so the store keeps each
 * object's text by ETag: a load lists the prefix (one request per 1000 keys)
 * and GETs only the objects whose listed ETag differs from the cached one.
 * Comparing against the listing costs nothing more, where a conditional GET
 * (`If-None-Match`, answered 304) would still be one request per object.
 */

const POLICY_FILE = /\.(ya?ml|json)$/i;
/**
 * GETs in flight at once: enough to hide S3's latency for a few dozen files,
 * few enough to stay well inside the SDK's socket pool (50) and S3's per-prefix
 * request rates when many Lambdas start at once.
 */
const MAX_PARALLEL_GETS = 8;

export interface S3StoreOptions extends LoadOptions {
  /** Milliseconds on a monotonic clock, for `lastLoad.ms`; `performance.now` by default. */
  now?: () => number;
}

/** Requests sent to S3, counted per command (the SDK's own retries are not counted again). */
export interface S3RequestCounts {
  list: number;
  get: number;
}

export interface S3LoadStats extends S3RequestCounts {
  /** Policy files in the set. */
  objects: number;
  /** Of those, how many were reused from the cache without a GET. */
  cached: number;
  ms: number;
}

interface ListedObject {
  key: string;
  etag?: string;
  size: number;
}

interface CachedObject {
  /** ETag of the content we hold (the GET's, which may be newer than the listing's). */
  etag?: string;
  file: PolicyFile;
}

export class S3PolicyStore {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #opts: S3StoreOptions;
  readonly #cache = new Map<string, CachedObject>();
  readonly #requests: S3RequestCounts = { list: 0, get: 0 };
  #lastLoad: S3LoadStats | undefined;
  #lastIgnored = 0;

  constructor(client: S3Client, bucket: string, prefix: string, opts: S3StoreOptions = {}) {
    this.#client = client;
    this.#bucket = bucket;
    this.#prefix = prefix;
    this.#opts = opts;
  }

  /** Every request this store has sent, for tests and benchmarks. */
  get requests(): S3RequestCounts {
    return { ...this.#requests };
  }

  /** What the last successful `load()` cost. */
  get lastLoad(): S3LoadStats | undefined {
    return this.#lastLoad && { ...this.#lastLoad };
  }

  /**
   * The policy set under the prefix. Throws CONFIG when S3 refuses or cannot
   * be reached, and when the prefix holds no policy file: an empty set would
   * deny everything quietly, where a mistyped prefix should be loud.
   * Invalid documents throw POLICY_INVALID as for a folder (see buildPolicySet).
   */
  async load(): Promise<LoadedPolicySet> {
    const files = await this.files();
    if (files.length === 0) {
      const ignored = this.#lastIgnored;
      const others = ignored > 0 ? ` (${ignored} other object${ignored === 1 ? '' : 's'} ignored)` : '';
      throw new SigwatchError('CONFIG', `${this.#location()}: no policy files (.yaml, .yml, .json) under this prefix${others}`);
    }
    return (await loadPolicySets()).buildPolicySet(files, { skipInvalid: this.#opts.skipInvalid });
  }

  /**
   * The policy files under the prefix, sorted by key, each fetched only when
   * its ETag changed since the last call; none when the prefix holds none
   * (a group without policies of its own is normal). Keys are in `file` as
   * `s3://bucket/key`.
   */
  async files(): Promise<PolicyFile[]> {
    const now = this.#opts.now ?? (() => performance.now());
    const started = now();
    const before = this.requests;

    const { objects, ignored } = await this.#list();
    this.#lastIgnored = ignored;
    const listedKeys = new Set(objects.map((o) => o.key));
    for (const key of this.#cache.keys()) if (!listedKeys.has(key)) this.#cache.delete(key);

    // An object listed without an ETag (some S3-compatible stores) cannot be compared: always fetched.
    const stale = objects.filter((o) => o.etag === undefined || this.#cache.get(o.key)?.etag !== o.etag);
    await forEachLimit(stale, MAX_PARALLEL_GETS, (o) => this.#fetch(o));

    this.#lastLoad = {
      list: this.#requests.list - before.list,
      get: this.#requests.get - before.get,
      objects: objects.length,
      cached: objects.length - stale.length,
      ms: now() - started,
    };
    return objects.map((o) => this.#cache.get(o.key)!.file);
  }

  /**
   * The policy files under the prefix, sorted by key. Keys with a path segment
   * starting with "." are skipped, as the folder store skips them: after an
   * `aws s3 sync` of a git checkout, `.github/workflows/*.yml` are not policies.
   */
  async #list(): Promise<{ objects: ListedObject[]; ignored: number }> {
    const objects: ListedObject[] = [];
    let ignored = 0;
    let token: string | undefined;
    do {
      this.#requests.list++;
      const page = await this.#send(this.#location(), () =>
        this.#client.send(new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: this.#prefix, ...(token ? { ContinuationToken: token } : {}) })),
      );
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined) continue;
        const hidden = o.Key.slice(this.#prefix.length)
          .split('/')
          .some((s) => s.startsWith('.'));
        if (hidden || !POLICY_FILE.test(o.Key)) ignored++;
        else objects.push({ key: o.Key, etag: o.ETag, size: o.Size ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { objects, ignored };
  }

  async #fetch(o: ListedObject): Promise<void> {
    const file = `s3://${this.#bucket}/${o.key}`;
    this.#requests.get++;
    const { text, etag, version } = await this.#send(file, async () => {
      // Of an object over the limit, one byte more than the limit is enough for
      // the parser to refuse it, as the folder store reads it.
      const range = o.size > MAX_FILE_BYTES ? { Range: `bytes=0-${MAX_FILE_BYTES}` } : {};
      const res = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: o.key, ...range }));
      // The body is read here so that a connection lost mid-way is reported like any S3 failure.
      return { text: await readBounded(res.Body as AsyncIterable<Uint8Array> | undefined), etag: res.ETag, version: res.VersionId ?? unquote(res.ETag) };
    });
    this.#cache.set(o.key, { etag, file: { text, file, version } });
  }

  /** Runs one S3 request, turning its failure into a CONFIG error that names `where`. */
  async #send<T>(where: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      throw s3Error(where, err);
    }
  }

  #location(): string {
    return `s3://${this.#bucket}/${this.#prefix}`;
  }
}

/** At most one byte more than MAX_FILE_BYTES, even from an object that grew since it was listed. */
async function readBounded(body: AsyncIterable<Uint8Array> | undefined): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Leaving the loop early destroys the stream, which frees the connection.
  for await (const chunk of body ?? []) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > MAX_FILE_BYTES) break;
  }
  return Buffer.concat(chunks)
    .subarray(0, MAX_FILE_BYTES + 1)
    .toString('utf8');
}

/** S3 quotes ETags (`"9b2c…"`); a version reads better without them. */
function unquote(etag: string | undefined): string | undefined {
  return etag?.replace(/^"(.*)"$/, '$1');
}

const DESCRIPTIONS: Record<string, string> = {
  AccessDenied: 'access denied',
  AllAccessDisabled: 'access denied',
  NoSuchBucket: 'no such bucket',
  InvalidAccessKeyId: 'credentials refused',
  SignatureDoesNotMatch: 'credentials refused',
  ExpiredToken: 'credentials refused',
  InvalidToken: 'credentials refused',
  CredentialsProviderError: 'no AWS credentials found',
  PermanentRedirect: 'the bucket is in another region',
  AuthorizationHeaderMalformed: 'the bucket is in another region',
  TimeoutError: 'S3 unreachable',
};

/**
 * `s3://bucket/prefix/: access denied (AccessDenied): <S3's message>`. The
 * code is S3's for an answer from S3, else the socket's (ECONNREFUSED…) or the
 * SDK's (CredentialsProviderError). S3 messages name principals and actions,
 * never keys, and the SDK keeps the signed request out of them.
 */
function s3Error(where: string, err: unknown): SigwatchError {
  const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  const code = (status === undefined ? e.code : undefined) ?? e.name ?? 'Error';
  const description =
    DESCRIPTIONS[code] ??
    (status === 403 ? 'access denied' : status !== undefined ? `S3 answered HTTP ${status}` : e.code ? 'S3 unreachable' : 'S3 request failed');
  const message = e.message?.split('\n')[0];
  return new SigwatchError('CONFIG', `${where}: ${description} (${code})${message ? `: ${message}` : ''}`, { cause: err });
}

/** Runs `fn` over the items, at most `limit` at a time; after a failure, starts no more. */
async function forEachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      try {
        await fn(items[next++]!);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * A reader of policy files by key prefix in one bucket (for group policy sets),
 * keeping one store, and so one ETag cache, per prefix.
 */
export function s3PrefixReader(client: S3Client, bucket: string, opts: S3StoreOptions = {}): (prefix: string) => Promise<{ key: string; file: PolicyFile }[]> {
  const stores = new Map<string, S3PolicyStore>();
  const base = `s3://${bucket}/`;
  return async (prefix) => {
    let store = stores.get(prefix);
    if (!store) stores.set(prefix, (store = new S3PolicyStore(client, bucket, prefix, opts)));
    return (await store.files()).map((file) => ({ key: file.file.slice(base.length), file }));
  };
}
