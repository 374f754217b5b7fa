import { createHash } from 'node:crypto';
import { request } from 'node:https';
import { SigwatchError } from '../../errors.ts';

/** Fetches a `remote` policy's body (HTTPS only); injectable so tests and air-gapped setups choose the transport. */
export type RemoteFetcher = (url: string) => Promise<Buffer>;

const MAX_POLICY_BYTES = 1024 * 1024;
const TIMEOUT_MS = 10_000;

/** A fetcher over node:https; `ca` adds trusted roots (a private policy server, a test server). */
export function httpsFetcher(opts: { ca?: string | Buffer; maxBytes?: number; timeoutMs?: number } = {}): RemoteFetcher {
  const maxBytes = opts.maxBytes ?? MAX_POLICY_BYTES;
  return (url) =>
    new Promise<Buffer>((resolve, reject) => {
      const u = new URL(url);
      if (u.protocol !== 'https:') return reject(new SigwatchError('POLICY_ENGINE', `policy url ${url} is not https`));
      const req = request(u, { method: 'GET', ca: opts.ca, timeout: opts.timeoutMs ?? TIMEOUT_MS }, (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) {
          res.resume();
          return reject(new SigwatchError('POLICY_ENGINE', `failed to fetch content from policy url with code ${status}`));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) {
            req.destroy(new SigwatchError('POLICY_ENGINE', `policy url response is over ${maxBytes} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolve(Buffer.concat(chunks)));
        res.on('error', reject);
      });
      const limitMs = opts.timeoutMs ?? TIMEOUT_MS;
      req.on('timeout', () => req.destroy(new SigwatchError('POLICY_ENGINE', `policy url did not answer within ${limitMs} ms`)));
      // The socket timeout is per silence: a server trickling a byte at a time would never trip it.
      const whole = setTimeout(() => req.destroy(new SigwatchError('POLICY_ENGINE', `policy url did not send its whole body within ${limitMs} ms`)), limitMs);
      req.on('close', () => clearTimeout(whole));
      req.on('error', (err) => reject(new SigwatchError('POLICY_ENGINE', `failed to fetch content from policy url: ${err.message}`, { cause: err })));
      req.end();
    });
}

/**
 * A remote policy as policy-controller inlines it: the body's sha256 (hex)
 * must equal `sha256sum`, or the policy is not used at all. Bodies are
 * cached by url and checksum: a policy pinned by its hash cannot change.
 */
export function remotePolicyLoader(fetch: RemoteFetcher): (url: string, sha256sum: string) => Promise<string> {
  const cache = new Map<string, Promise<string>>();
  return (url, sha256sum) => {
    const key = `${sha256sum}@${url}`;
    let text = cache.get(key);
    if (!text) {
      text = (async () => {
        const body = await fetch(url);
        const got = createHash('sha256').update(body).digest('hex');
        if (got !== sha256sum) throw new SigwatchError('POLICY_ENGINE', `failed to check sha256sum from policy remote: ${sha256sum} got ${got}`);
        return body.toString('utf8');
      })();
      // A failed fetch may succeed later; only good bodies stay.
      text.catch(() => cache.delete(key));
      cache.set(key, text);
    }
    return text;
  };
}
