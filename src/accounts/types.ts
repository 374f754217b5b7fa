import type { NoMatchBehaviour } from '../policy/types.ts';

/**
 * The association step's configuration, as `sigwatch.yaml` in the config bucket
 * declares it, validated and with its defaults applied (see config.ts and
 * docs/accounts.md). Everything here is frozen: an object the parser did not
 * produce, or one changed afterwards, is never taken for configuration.
 */

export interface SigwatchConfig {
  defaults: Defaults;
  operators: Operators;
  /** By path (`acme`, `acme/payments`); parents come before their children. */
  groups: ReadonlyMap<string, GroupConfig>;
  associations: readonly Association[];
  /** Scope of scheduled re-verification; absent means every image of every associated repository. */
  reverify?: ReverifyConfig;
  /** Findings in the member accounts' Security Hub at the end of each run (docs/report.md); off unless enabled. */
  securityHub?: SecurityHubConfig;
}

export interface SecurityHubConfig {
  enabled: boolean;
}

/**
 * What the daily re-verification skips (docs/reverify.md). Patterns are
 * minimatch globs over repository names (`payments/**`) or tags (`pr-*`).
 */
export interface ReverifyConfig {
  /** Repositories re-verified: those matching any of these (all when absent). */
  include?: readonly string[];
  /** Repositories never re-verified, even when included. */
  exclude?: readonly string[];
  /** Tags that do not count: an image all of whose tags match is skipped (as if untagged, when `untagged: skip`). */
  excludeTags?: readonly string[];
  /**
   * Untagged images: skipped (the default: they are the children of multi-arch
   * indexes, signatures and attestations stored as referrers, and builds a newer
   * push took the tag from) or re-verified (`include`).
   */
  untagged: 'include' | 'skip';
  /** Images pushed longer ago than this are skipped. */
  maxAgeDays?: number;
}

export interface Defaults {
  /** Role name in every member account whose association gives no `roleArn`. */
  roleName: string;
  /** `DurationSeconds` of every AssumeRole (900 unless set). */
  sessionDurationSeconds: number;
  /** What an image no policy covers gets (policy-controller's `no-match-policy`; `deny` unless set). */
  noMatch: NoMatchBehaviour;
}

export interface Operators {
  /** SNS topic for what no team can act on: unknown accounts, configuration and access errors. */
  topicArn: string;
}

/** One group as declared; inheritance is resolved by groups.ts. */
export interface GroupConfig {
  /** Slash-separated path; its parent is the path without its last segment. */
  path: string;
  /** Routing name teams filter SNS messages on. */
  team?: string;
  topicArn?: string;
  /** Secrets Manager name prefix of the group's pull secrets. */
  secretsPrefix?: string;
  /** Key prefix of the group's policies in the config bucket (`policies/<path>/` unless set). */
  policyPrefix: string;
}

/** AWS accounts and Google Cloud projects attached to one group, and how sigwatch reaches them. */
export interface Association {
  group: string;
  /** Empty for an association of Google Cloud projects only. */
  accounts: readonly AccountConfig[];
  externalId?: ExternalIdSource;
  /**
   * Repositories verified: exact names, or prefixes ending in `/`. Absent means
   * all of the accounts' repositories.
   */
  repositories?: readonly string[];
  /** Google Cloud projects whose registries the group's verifications read (signatures kept in Artifact Registry, say). */
  gcp?: GcpAssociation;
}

/**
 * Google Cloud projects reached with workload identity federation: sigwatch's
 * own AWS identity (a signed GetCallerIdentity request) is exchanged at Google
 * STS for an access token, so no Google key is stored anywhere.
 */
export interface GcpAssociation {
  /** The workload identity pool provider that trusts sigwatch's AWS role: `//iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER`. */
  audience: string;
  /** A service account the federated identity impersonates; without one, the federated identity itself is granted read. */
  serviceAccount?: string;
  projects: readonly GcpProject[];
}

export interface GcpProject {
  /** The project id, as registry paths name it (`LOCATION-docker.pkg.dev/PROJECT/…`, `gcr.io/PROJECT/…`). */
  id: string;
  /** Artifact Registry locations (`us-central1`, `europe`) where `associations check` lists repositories. */
  locations: readonly string[];
}

export interface AccountConfig {
  /** 12 digits. */
  id: string;
  /** Regions whose events are accepted for this account; any other is unknown. */
  regions: readonly string[];
  /** The role sigwatch assumes (`arn:<partition>:iam::<id>:role/<defaults.roleName>` unless set). */
  roleArn: string;
}

/**
 * Where the ExternalId of an association's roles comes from: a Secrets Manager
 * secret (read by the caller's resolver), or a literal accepted only when the
 * parser is told it runs locally.
 */
export type ExternalIdSource = { secretArn: string } | { inline: string };
