import { createHash } from 'node:crypto';
import { toTrustMaterial, type TrustMaterial } from '@sigstore/verify';
import { SigwatchError } from '../errors.ts';
import type { TrustRoot } from '../policy/types.ts';
import { sigstoreKeysTrustMaterial } from './sigstore-keys.ts';
// TUF (tuf-js and its in-memory file system) is loaded only for a `remote` or `repository` TrustRoot.
import type { TufSource, TufTrustedRoot } from './tuf.ts';
import type { Clock } from '../clock.ts';

type TufModule = typeof import('./tuf.ts');
const loadTuf = (): Promise<TufModule> => import('./tuf.ts');

/**
 * Trust material for `trustRootRef`: a `TrustRoot`'s `sigstoreKeys` as given,
 * or its `remote` / `repository` TUF repository fetched and verified. TUF
 * results are kept in memory for the process, per TrustRoot content, until the
 * earliest expiry of the metadata they were verified with (or `maxAgeMs`,
 * upstream's resync period, whichever comes first); then fetched again. A
 * failure is never kept and never replaced by stale or default material: it
 * fails the authority with a reason naming the TrustRoot.
 */

export interface TrustRootResolverOptions {
  now: Clock;
  /** How long a TUF result is kept at most (policy-controller resyncs TrustRoots every 10 hours). */
  maxAgeMs?: number;
  fetchTimeoutMs?: number;
  fetchRetries?: number;
  /** Fetches and verifies a TUF repository (tests count calls through it). */
  fetchTuf?: (source: TufSource) => Promise<TufTrustedRoot>;
}

interface Cached {
  material: TrustMaterial;
  expires: number;
}

const TEN_HOURS_MS = 10 * 60 * 60 * 1000;

export class TrustRootResolver {
  private readonly entries = new Map<string, Promise<Cached>>();
  private readonly now: Clock;
  private readonly maxAgeMs: number;
  private readonly fetchTuf: ((source: TufSource) => Promise<TufTrustedRoot>) | undefined;
  private readonly fetchOptions: { fetchTimeoutMs?: number; fetchRetries?: number };

  constructor(opts: TrustRootResolverOptions) {
    this.now = opts.now;
    this.maxAgeMs = opts.maxAgeMs ?? TEN_HOURS_MS;
    this.fetchTuf = opts.fetchTuf;
    this.fetchOptions = { fetchTimeoutMs: opts.fetchTimeoutMs, fetchRetries: opts.fetchRetries };
  }

  /** The trust material of the TrustRoot named `name` among `roots`. */
  async lookup(roots: readonly TrustRoot[] | undefined, name: string): Promise<TrustMaterial> {
    const root = roots?.find((r) => r.metadata.name === name);
    if (!root) throw new SigwatchError('CONFIG', `trustRootRef ${name}: no TrustRoot of that name in the policy set`);
    return this.material(root);
  }

  async material(root: TrustRoot): Promise<TrustMaterial> {
    if (root.spec.sigstoreKeys) return sigstoreKeysTrustMaterial(root);
    const key = cacheKey(root);
    for (;;) {
      const pending = this.entries.get(key);
      if (!pending) {
        const fetching = this.fetch(root);
        this.entries.set(key, fetching);
        // A failure is not remembered: the next verification fetches again.
        fetching.catch(() => {
          if (this.entries.get(key) === fetching) this.entries.delete(key);
        });
        return (await fetching).material;
      }
      const cached = await pending;
      if (this.now() < cached.expires) return cached.material;
      if (this.entries.get(key) === pending) this.entries.delete(key);
    }
  }

  private async fetch(root: TrustRoot): Promise<Cached> {
    const where = `TrustRoot ${root.metadata.name}`;
    const fetchedAt = this.now();
    let source: TufSource;
    let result: TufTrustedRoot;
    try {
      const tuf = await loadTuf();
      source = { ...tufSource(tuf, root), ...this.fetchOptions };
      result = await (this.fetchTuf ?? tuf.fetchTufTrustedRoot)(source);
    } catch (err) {
      throw new SigwatchError('TRUST_ROOT', `${where}: ${(err as Error).message}`, { cause: err });
    }
    try {
      return { material: toTrustMaterial(result.trustedRoot), expires: Math.min(result.expires, fetchedAt + this.maxAgeMs) };
    } catch (err) {
      throw new SigwatchError('TRUST_ROOT', `${where}: ${result.targets.join(', ')} is not a usable trusted root: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
}

function tufSource({ remoteSource, mirrorFsSource }: TufModule, root: TrustRoot): TufSource {
  const { remote, repository } = root.spec;
  if (remote) return remoteSource(remote.mirror, Buffer.from(remote.root, 'base64'), remote.targets, remote.trustedRootTarget);
  if (repository) {
    return mirrorFsSource(Buffer.from(repository.mirrorFS, 'base64'), Buffer.from(repository.root, 'base64'), repository.targets, repository.trustedRootTarget);
  }
  throw new SigwatchError('POLICY_INVALID', 'has none of sigstoreKeys, remote and repository');
}

const keys = new WeakMap<TrustRoot, string>();

/**
 * Same name and same TUF spec, same material; any change to the spec is a new
 * entry. Remembered per loaded document: a mirrorFS can be megabytes to hash.
 */
function cacheKey(root: TrustRoot): string {
  let key = keys.get(root);
  if (key === undefined) {
    const { remote, repository } = root.spec;
    key = `${root.metadata.name}\0${createHash('sha256').update(JSON.stringify({ remote, repository })).digest('hex')}`;
    keys.set(root, key);
  }
  return key;
}
