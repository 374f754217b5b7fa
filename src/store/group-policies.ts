import { createHash } from 'node:crypto';
import type { AccountDirectory } from '../accounts/groups.ts';
import { loadPolicySets } from './load-policy-sets.ts';
import type { LoadedPolicySet, PolicyFile } from './policy-set.ts';

/**
 * The policies that apply to one group's images: its own and its ancestors'
 * (a policy of `acme` applies to `acme/payments`, one of `acme/payments` not to
 * `acme/retail`). Each group prefix is listed through a store that caches
 * objects by ETag, and a set is built once per distinct content, so a warm
 * function pays one LIST per prefix per batch and no parse for an unchanged set.
 */

/** The policy files stored under a key prefix, each named by its key. */
export interface PrefixedFile {
  key: string;
  file: PolicyFile;
}

/** Lists (and reads) the policy files under a prefix; empty when there are none. */
export type PrefixReader = (prefix: string) => Promise<PrefixedFile[]>;

export interface GroupPolicySet {
  set: LoadedPolicySet;
  /**
   * Names this exact content: a hash of every applying file's name and version.
   * Two loads with the same files and versions give the same string, so it keys
   * idempotency and the verdict store (a changed policy is a new version).
   */
  version: string;
}

/** A PrefixReader scope for one batch: each prefix is read at most once while it lives. */
export class GroupPolicies {
  readonly #read: PrefixReader;
  readonly #built = new Map<string, GroupPolicySet>();

  constructor(read: PrefixReader) {
    this.#read = read;
  }

  /** A view that reads each prefix once; make one per batch, so that a batch sees one consistent set. */
  scope(directory: AccountDirectory): (group: string) => Promise<GroupPolicySet> {
    const listings = new Map<string, Promise<PrefixedFile[]>>();
    const sets = new Map<string, Promise<GroupPolicySet>>();
    const list = (prefix: string) => {
      let pending = listings.get(prefix);
      if (!pending) listings.set(prefix, (pending = this.#read(prefix)));
      return pending;
    };
    return (group) => {
      let pending = sets.get(group);
      if (!pending) {
        pending = (async () => {
          // Prefixes nest (policies/acme/ holds policies/acme/retail/): keep what applies, each key once.
          const applying = new Map<string, PolicyFile>();
          for (const listed of await Promise.all(directory.policyPrefixesFor(group).map(list))) {
            for (const { key, file } of listed) if (directory.policyKeyApplies(key, group)) applying.set(key, file);
          }
          return await this.#build([...applying.values()]);
        })();
        sets.set(group, pending);
      }
      return pending;
    };
  }

  async #build(files: PolicyFile[]): Promise<GroupPolicySet> {
    const version = policySetVersion(files);
    let built = this.#built.get(version);
    if (!built) {
      const { buildPolicySet } = await loadPolicySets();
      // Fails closed: an invalid policy anywhere in the lineage throws POLICY_INVALID for the group.
      built = { set: buildPolicySet(files), version };
      // Sets of old versions are dropped when the cache would grow past any real number of groups.
      if (this.#built.size >= 256) this.#built.clear();
      this.#built.set(version, built);
    }
    return built;
  }
}

/** `sha256:<hex>` over the sorted (file, version) pairs; content hashes stand in for missing versions. */
export function policySetVersion(files: readonly PolicyFile[]): string {
  const pairs = files
    .map((f) => [f.file, f.version ?? `sha256:${createHash('sha256').update(f.text).digest('hex')}`])
    .sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0));
  return `sha256:${createHash('sha256').update(JSON.stringify(pairs)).digest('hex')}`;
}
