import { SigwatchError } from '../errors.ts';
import type { AccountConfig, Association, GcpAssociation, GroupConfig, SigwatchConfig } from './types.ts';

/**
 * Who an image belongs to. An event names an account, a region and a
 * repository; the configuration says which group (if any) that is, which role
 * reaches it, and what the group inherits. Only the configuration decides: an
 * account an event claims is looked up, never trusted, so a role is assumed
 * only for an account someone associated on purpose (the confused-deputy rule).
 */

/** A group with what it inherits resolved: its own value, else its nearest ancestor's. */
export interface EffectiveGroup {
  path: string;
  /** The group's ancestors and itself, top-level first: `acme`, `acme/payments`. */
  lineage: readonly string[];
  team?: string;
  /** Always set: every top-level group has one, and subgroups inherit it. */
  topicArn: string;
  secretsPrefix?: string;
  /** The group's own prefix (not inherited: see policyPrefixesFor). */
  policyPrefix: string;
}

export type Resolution = KnownAccount | UnknownAccount;

export interface KnownAccount {
  known: true;
  association: Association;
  account: AccountConfig;
  group: EffectiveGroup;
}

/**
 * An event sigwatch has no association for. The pipeline turns it into an
 * `error` verdict to the operators' topic: an unassociated account pushing to
 * a bus that forwards to sigwatch is either a missing association or someone
 * probing, and both need a person. `repository-not-included` is an account
 * whose association leaves that repository out on purpose.
 */
export interface UnknownAccount {
  known: false;
  kind: 'unknown-account' | 'unlisted-region' | 'repository-not-included';
  reason: string;
}

/** The part of a PushEvent that says whose image it is. */
export interface ImageOwner {
  account: string;
  region: string;
  repository: string;
}

export class AccountDirectory {
  readonly #groups = new Map<string, EffectiveGroup>();
  readonly #byAccount = new Map<string, { association: Association; account: AccountConfig }>();
  readonly #gcpByGroup = new Map<string, GcpAssociation>();
  /** Group paths by policy prefix, longest prefix first. */
  readonly #prefixes: { prefix: string; group: string }[];

  constructor(config: SigwatchConfig) {
    // The configuration lists parents before children, so each parent is resolved when its child is.
    for (const g of config.groups.values()) this.#groups.set(g.path, this.#inherit(g));
    for (const association of config.associations) {
      for (const account of association.accounts) this.#byAccount.set(account.id, { association, account });
      if (association.gcp) this.#gcpByGroup.set(association.group, association.gcp);
    }
    this.#prefixes = [...config.groups.values()].map((g) => ({ prefix: g.policyPrefix, group: g.path })).sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** The association, account and group of an image, or why there is none. */
  resolve(owner: ImageOwner): Resolution {
    const found = this.#byAccount.get(owner.account);
    if (!found) {
      return { known: false, kind: 'unknown-account', reason: `account ${owner.account} is not associated with any group in the sigwatch configuration` };
    }
    const { association, account } = found;
    if (!account.regions.includes(owner.region)) {
      return {
        known: false,
        kind: 'unlisted-region',
        reason: `account ${account.id} is associated with group ${association.group} for ${account.regions.join(', ')}, not ${owner.region}`,
      };
    }
    if (association.repositories && !association.repositories.some((r) => (r.endsWith('/') ? owner.repository.startsWith(r) : owner.repository === r))) {
      return {
        known: false,
        kind: 'repository-not-included',
        reason: `repository ${owner.repository} of account ${account.id} is not among the repositories associated with group ${association.group} (${association.repositories.join(', ')})`,
      };
    }
    return { known: true, association, account, group: this.group(association.group) };
  }

  /**
   * Whether sigwatch may use the credentials of the account holding `target`
   * (its role, its ECR tokens) for an image of group `path`. Enforce's rule:
   * an association serves the policies of its own group and of the groups
   * below it, within its accounts, regions and repository filters. Anything
   * else is another team's: a policy that names it (a `source.oci`, a KMS
   * key) is served anonymously or refused, never with that team's role.
   */
  serves(path: string, target: ImageOwner): { ok: true } | { ok: false; reason: string } {
    const found = this.resolve(target);
    if (!found.known) return { ok: false, reason: found.reason };
    return this.#inLineage(path, found.association.group, `account ${target.account}`);
  }

  /** `serves` for a resource of a whole account (a KMS key): any of its regions and repositories. */
  servesAccount(path: string, account: string): { ok: true } | { ok: false; reason: string } {
    const found = this.#byAccount.get(account);
    if (!found) return { ok: false, reason: `account ${account} is not associated with any group in the sigwatch configuration` };
    return this.#inLineage(path, found.association.group, `account ${account}`);
  }

  #inLineage(path: string, group: string, what: string): { ok: true } | { ok: false; reason: string } {
    if (this.group(path).lineage.includes(group)) return { ok: true };
    return {
      ok: false,
      reason: `${what} is associated with group ${group}, which does not serve group ${path} (an association serves its own group and the groups below it)`,
    };
  }

  /** The association and entry of an account, whatever the region or repository; undefined when none. */
  accountById(id: string): { association: Association; account: AccountConfig } | undefined {
    return this.#byAccount.get(id);
  }

  /**
   * The GCP projects a group's verifications may read with federated
   * credentials: its own association's, else its nearest ancestor's (a
   * platform group's shared Artifact Registry serves its teams).
   */
  gcpFor(path: string): GcpAssociation | undefined {
    const lineage = this.group(path).lineage;
    for (let i = lineage.length - 1; i >= 0; i--) {
      const gcp = this.#gcpByGroup.get(lineage[i]!);
      if (gcp) return gcp;
    }
    return undefined;
  }

  /** The group at `path` with its inheritance resolved; throws for a path the configuration does not declare. */
  group(path: string): EffectiveGroup {
    const g = this.#groups.get(path);
    if (!g) throw new SigwatchError('INTERNAL', `group ${path} is not in the sigwatch configuration`);
    return g;
  }

  /**
   * Where the policies applying to a group's images are kept: the prefixes of
   * its ancestors and its own, top-level first. A policy of `acme` applies to
   * `acme/payments`' images; one of `acme/payments` does not apply to `acme/retail`'s.
   *
   * Prefixes nest (`policies/acme/` holds `policies/acme/retail/`), so a
   * recursive listing of an ancestor's prefix also returns its other
   * descendants' policies: keep only the keys for which policyKeyApplies is true.
   */
  policyPrefixesFor(path: string): string[] {
    return this.group(path).lineage.map((p) => this.group(p).policyPrefix);
  }

  /**
   * Whether the policy object `key` applies to images of group `path`. A key
   * belongs to the group with the longest policy prefix it starts with, and
   * applies to that group and all its descendants.
   */
  policyKeyApplies(key: string, path: string): boolean {
    const owner = this.#prefixes.find((p) => key.startsWith(p.prefix))?.group;
    return owner !== undefined && this.group(path).lineage.includes(owner);
  }

  #inherit(g: GroupConfig): EffectiveGroup {
    const cut = g.path.lastIndexOf('/');
    const parent = cut === -1 ? undefined : this.group(g.path.slice(0, cut));
    const topicArn = g.topicArn ?? parent?.topicArn;
    // parseConfig reports a top-level group without a topic; only a hand-built configuration gets here.
    if (topicArn === undefined) throw new SigwatchError('CONFIG', `group ${g.path} has no topicArn and no ancestor with one`);
    return Object.freeze({
      path: g.path,
      lineage: Object.freeze([...(parent?.lineage ?? []), g.path]),
      ...optional('team', g.team ?? parent?.team),
      topicArn,
      ...optional('secretsPrefix', g.secretsPrefix ?? parent?.secretsPrefix),
      policyPrefix: g.policyPrefix,
    });
  }
}

/** `{ key: value }`, or nothing when the value is unset, so that absent stays absent (not `key: undefined`). */
function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]?: string });
}
