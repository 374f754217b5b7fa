import { SigwatchError } from '../errors.ts';
import { describeValue, FieldReader, formatProblem, isMapping, readYaml, type FieldProblem, type Fields } from '../field-reader.ts';
import type { NoMatchBehaviour } from '../policy/types.ts';
import { GCP_AUDIENCE_RE, GCP_LOCATION_RE, GCP_PROJECT_RE, GCP_SERVICE_ACCOUNT_RE } from '../registry/providers/gcp-names.ts';
import type {
  AccountConfig,
  Association,
  Defaults,
  ExternalIdSource,
  GcpAssociation,
  GcpProject,
  GroupConfig,
  Operators,
  ReverifyConfig,
  SecurityHubConfig,
  SigwatchConfig,
} from './types.ts';
import { ACCOUNT_ID_RE, REGION_PATTERN, REGION_RE, REPOSITORY_PREFIX_RE, REPOSITORY_RE } from '../registry/providers/ecr-names.ts';

/**
 * `sigwatch.yaml` text → SigwatchConfig, or every problem found, each with the
 * path of the field to fix. Nothing is guessed: unknown fields, malformed ids
 * and ARNs, and combinations that could never work (a role in another account
 * or partition, an account associated twice) are problems, because a config
 * that is quietly half-applied verifies images against the wrong policies or
 * sends their verdicts to the wrong team.
 *
 * YAML is read with the failsafe schema: every scalar is a string. An account
 * id like 012345678901 stays what was written, where YAML's core schema would
 * read an unquoted one as the number 12345678901.
 */

/** Far more than any real configuration; a bigger object is not one. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Aliases resolved; more only serves a "billion laughs" blow-up. */
const MAX_ALIASES = 100;

// The regions the events step accepts (commercial, GovCloud, China): an account
// in any other could never send an event sigwatch reads.
const PARTITION = '(aws|aws-cn|aws-us-gov)';
const REGION = `(${REGION_PATTERN})`;
// IAM names: 64 characters of [\w+=,.@-]; paths of the same characters between slashes.
const ROLE_NAME_RE = /^[\w+=,.@-]{1,64}$/;
const ROLE_ARN_RE = new RegExp(`^arn:${PARTITION}:iam::(\\d{12}):role/(?:[\\w+=,.@-]+/)*[\\w+=,.@-]{1,64}$`);
const TOPIC_ARN_RE = new RegExp(`^arn:${PARTITION}:sns:${REGION}:\\d{12}:[A-Za-z0-9_-]{1,256}(?:\\.fifo)?$`);
const SECRET_ARN_RE = new RegExp(`^arn:${PARTITION}:secretsmanager:${REGION}:\\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}$`);
// Secrets Manager's name characters.
const SECRETS_PREFIX_RE = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
// Segments that are safe as S3 key parts and never `.` or `..`.
const GROUP_SEGMENT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const POLICY_PREFIX_RE = /^(?:[A-Za-z0-9][A-Za-z0-9._-]*\/)+$/;
const TEAM_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
// STS's ExternalId: 2 to 1224 of these characters.
const EXTERNAL_ID_RE = /^[\w+=,.@:/-]{2,1224}$/;
// ECR's repositoryName (2–256 characters), and the same ending in `/` for a prefix.

/** Where ExternalId secrets live by default (the functions' IAM policy reads them there); no group's secretsPrefix may reach it. */
export const EXTERNAL_ID_SECRETS_PREFIX = 'sigwatch/external-id';

const DEFAULT_SESSION_SECONDS = 900;
// STS's floor; the ceiling is role chaining's: sigwatch calls AssumeRole with its
// own role session's credentials, and STS refuses more than an hour for those
// whatever the role's MaxSessionDuration says.
const MIN_SESSION_SECONDS = 900;
const MAX_SESSION_SECONDS = 3600;
const NO_MATCH: readonly NoMatchBehaviour[] = ['deny', 'allow', 'warn'];

const TOP_FIELDS = ['defaults', 'operators', 'groups', 'associations'] as const;
const REVERIFY_FIELDS = ['include', 'exclude', 'excludeTags', 'untagged', 'maxAgeDays'] as const;
const SECURITY_HUB_FIELDS = ['enabled'] as const;
/** Longer than any repository name (256) or tag (128) a pattern could be meant for. */
const MAX_PATTERN_CHARS = 512;
const MAX_AGE_DAYS = 36_500;
const DEFAULTS_FIELDS = ['roleName', 'sessionDurationSeconds', 'noMatch'] as const;
const OPERATORS_FIELDS = ['topicArn'] as const;
const GROUP_FIELDS = ['team', 'topicArn', 'secretsPrefix', 'policyPrefix'] as const;
const ASSOCIATION_FIELDS = ['group', 'accounts', 'externalId', 'repositories', 'gcp'] as const;
const GCP_FIELDS = ['audience', 'serviceAccount', 'projects'] as const;
const GCP_PROJECT_FIELDS = ['id', 'locations'] as const;
const ACCOUNT_FIELDS = ['id', 'regions', 'roleArn'] as const;
const EXTERNAL_ID_FIELDS = ['secretArn', 'inline'] as const;

export interface ConfigParseOptions {
  /**
   * Accept `externalId: {inline: …}`. Only for local runs: in the config bucket
   * a literal ExternalId is readable by everyone who can read the bucket.
   */
  allowInlineExternalId?: boolean;
}

export type ConfigResult = { ok: true; config: SigwatchConfig } | { ok: false; problems: FieldProblem[] };

/**
 * Associations (and so their accounts) that this module produced. The STS step
 * assumes a role only for an account found here: an object built from an
 * event's claims, or a copy of a configured one with its id changed, is not.
 */
const configured = new WeakSet<Association>();

/** Whether `account` is one of `association`'s, both as a parsed configuration holds them. */
export function isConfiguredAccount(association: Association, account: AccountConfig): boolean {
  return configured.has(association) && association.accounts.includes(account);
}

export function parseConfig(text: string, opts: ConfigParseOptions = {}): ConfigResult {
  const read = readYaml(text, { maxBytes: MAX_CONFIG_BYTES, maxAliases: MAX_ALIASES });
  return read.ok ? new ConfigReader(opts).read(read.value) : read;
}

/** The CONFIG error a caller throws for a configuration that did not parse; `source` names where it was read. */
export function configError(source: string, problems: readonly FieldProblem[]): SigwatchError {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  return new SigwatchError('CONFIG', `${source}: ${count}: ${problems.map(formatProblem).join('; ')}`);
}

/** One pass over a document, collecting problems; the result is built only when there are none. */
class ConfigReader extends FieldReader {
  readonly #opts: ConfigParseOptions;
  /** Partition of the operators' topic: where sigwatch runs, and so the only one it can reach. */
  #partition: string | undefined;

  constructor(opts: ConfigParseOptions) {
    super();
    this.#opts = opts;
  }

  read(value: unknown): ConfigResult {
    // `reverify` and `securityHub` are optional and read apart, so that the unknown-field message lists the sections every file has.
    const { reverify: reverifyValue, securityHub: securityHubValue, ...rest } = isMapping(value) ? value : { reverify: undefined, securityHub: undefined };
    const root = this.mapping(isMapping(value) ? rest : value, '', TOP_FIELDS);
    if (!root) return { ok: false, problems: this.problems };
    const operators = this.#section(root, 'operators', (v) => this.#operators(v));
    const defaults = this.#section(root, 'defaults', (v) => this.#defaults(v));
    const groups = this.#section(root, 'groups', (v) => this.#groups(v));
    const associations = this.#section(root, 'associations', (v) => this.#associations(v, groups, defaults));
    // Optional: without it, scheduled re-verification covers every image of every associated repository.
    const reverify = reverifyValue === undefined ? undefined : this.#reverify(reverifyValue);
    const securityHub = securityHubValue === undefined ? undefined : this.#securityHub(securityHubValue);
    if (groups && associations) this.#secretsApart(groups, associations);
    if (this.problems.length > 0 || !operators || !defaults || !groups || !associations) return { ok: false, problems: this.problems };
    for (const a of associations) configured.add(a);
    return {
      ok: true,
      config: Object.freeze({ defaults, operators, groups, associations, ...(reverify ? { reverify } : {}), ...(securityHub ? { securityHub } : {}) }),
    };
  }

  /**
   * ExternalIds live where no group's secrets prefix reaches: a policy names
   * pull secrets and secretRef keys under its group's prefix, so a prefix
   * covering an ExternalId secret would let a policy author have sigwatch
   * read that ExternalId (and send it to a registry of their choosing).
   */
  #secretsApart(groups: Map<string, GroupConfig>, associations: readonly Association[]): void {
    const names = [
      EXTERNAL_ID_SECRETS_PREFIX,
      ...associations.flatMap((a) => (a.externalId && 'secretArn' in a.externalId ? [secretName(a.externalId.secretArn)] : [])),
    ];
    for (const g of groups.values()) {
      const prefix = g.secretsPrefix;
      if (prefix === undefined) continue;
      const covered = names.find((name) => name.startsWith(prefix) || prefix.startsWith(EXTERNAL_ID_SECRETS_PREFIX));
      if (covered !== undefined) {
        this.problem(
          `groups[${g.path}].secretsPrefix`,
          `${prefix} reaches the ExternalId secrets (${covered === EXTERNAL_ID_SECRETS_PREFIX ? `${EXTERNAL_ID_SECRETS_PREFIX}…` : covered}): a group's secrets must live apart from them, e.g. under sigwatch/teams/`,
        );
      }
    }
  }

  /** Security Hub findings (docs/report.md): `enabled` is required, so that an empty section is not mistaken for either. */
  #securityHub(value: unknown): SecurityHubConfig | undefined {
    const fields = this.mapping(value, 'securityHub', SECURITY_HUB_FIELDS);
    if (!fields) return undefined;
    const enabled = this.string(fields, 'enabled', 'securityHub.enabled', true);
    if (enabled === undefined) return undefined;
    if (enabled !== 'true' && enabled !== 'false') {
      this.invalid('securityHub.enabled', enabled, 'expected true or false');
      return undefined;
    }
    return Object.freeze({ enabled: enabled === 'true' });
  }

  /** The operator's scope for scheduled re-verification (docs/reverify.md). */
  #reverify(value: unknown): ReverifyConfig | undefined {
    const fields = this.mapping(value, 'reverify', REVERIFY_FIELDS);
    if (!fields) return undefined;
    const patterns = (key: 'include' | 'exclude' | 'excludeTags'): readonly string[] | undefined => {
      if (fields[key] === undefined) return undefined;
      const where = `reverify.${key}`;
      const list = this.list(fields[key], where);
      if (!list) return undefined;
      const out: string[] = [];
      list.forEach((item, i) => {
        if (typeof item !== 'string' || item === '') this.problem(`${where}[${i}]`, `expected a pattern, got ${describeValue(item)}`);
        else if (item.length > MAX_PATTERN_CHARS) this.problem(`${where}[${i}]`, `a pattern is at most ${MAX_PATTERN_CHARS} characters`);
        else if (out.includes(item)) this.problem(`${where}[${i}]`, `${item} is listed twice`);
        else out.push(item);
      });
      return Object.freeze(out);
    };
    const include = patterns('include');
    const exclude = patterns('exclude');
    const excludeTags = patterns('excludeTags');
    let untagged: 'include' | 'skip' = 'skip';
    const untaggedText = this.string(fields, 'untagged', 'reverify.untagged', false);
    if (untaggedText !== undefined) {
      if (untaggedText === 'include' || untaggedText === 'skip') untagged = untaggedText;
      else this.invalid('reverify.untagged', untaggedText, 'expected include or skip');
    }
    let maxAgeDays: number | undefined;
    const age = this.string(fields, 'maxAgeDays', 'reverify.maxAgeDays', false);
    if (age !== undefined) {
      const n = /^\d{1,5}$/.test(age) ? Number(age) : NaN;
      if (n >= 1 && n <= MAX_AGE_DAYS) maxAgeDays = n;
      else this.invalid('reverify.maxAgeDays', age, `expected whole days from 1 to ${MAX_AGE_DAYS}`);
    }
    return Object.freeze({
      ...(include ? { include } : {}),
      ...(exclude ? { exclude } : {}),
      ...(excludeTags ? { excludeTags } : {}),
      untagged,
      ...(maxAgeDays !== undefined ? { maxAgeDays } : {}),
    });
  }

  #section<T>(root: Fields, key: string, read: (value: unknown) => T | undefined): T | undefined {
    if (root[key] === undefined) {
      this.problem(key, 'missing field');
      return undefined;
    }
    return read(root[key]);
  }

  #operators(value: unknown): Operators | undefined {
    const fields = this.mapping(value, 'operators', OPERATORS_FIELDS);
    if (!fields) return undefined;
    const topicArn = this.string(fields, 'topicArn', 'operators.topicArn', true);
    if (topicArn === undefined || !this.matches(topicArn, 'operators.topicArn', TOPIC_ARN_RE, 'expected an SNS topic ARN')) return undefined;
    this.#partition = partitionOfArn(topicArn);
    return Object.freeze({ topicArn });
  }

  #defaults(value: unknown): Defaults | undefined {
    const fields = this.mapping(value, 'defaults', DEFAULTS_FIELDS);
    if (!fields) return undefined;
    const roleName = this.string(fields, 'roleName', 'defaults.roleName', true);
    const roleOk =
      roleName !== undefined && this.matches(roleName, 'defaults.roleName', ROLE_NAME_RE, 'an IAM role name is 1 to 64 letters, digits and +=,.@_-');

    let sessionDurationSeconds = DEFAULT_SESSION_SECONDS;
    const duration = this.string(fields, 'sessionDurationSeconds', 'defaults.sessionDurationSeconds', false);
    let durationOk = true;
    if (duration !== undefined) {
      const n = /^\d{1,6}$/.test(duration) ? Number(duration) : NaN;
      durationOk = n >= MIN_SESSION_SECONDS && n <= MAX_SESSION_SECONDS;
      if (durationOk) sessionDurationSeconds = n;
      else {
        this.invalid(
          'defaults.sessionDurationSeconds',
          duration,
          `expected whole seconds from ${MIN_SESSION_SECONDS} to ${MAX_SESSION_SECONDS} (STS allows at most an hour for a role assumed with another role's session, as sigwatch's are)`,
        );
      }
    }

    let noMatch: NoMatchBehaviour = 'deny';
    const noMatchText = this.string(fields, 'noMatch', 'defaults.noMatch', false);
    let noMatchOk = true;
    if (noMatchText !== undefined) {
      noMatchOk = (NO_MATCH as readonly string[]).includes(noMatchText);
      if (noMatchOk) noMatch = noMatchText as NoMatchBehaviour;
      else this.invalid('defaults.noMatch', noMatchText, `expected one of ${NO_MATCH.join(', ')}`);
    }
    if (!roleOk || !durationOk || !noMatchOk) return undefined;
    return Object.freeze({ roleName: roleName!, sessionDurationSeconds, noMatch });
  }

  #groups(value: unknown): Map<string, GroupConfig> | undefined {
    const fields = this.mapping(value, 'groups', null);
    if (!fields) return undefined;
    const paths = Object.keys(fields);
    if (paths.length === 0) {
      this.problem('groups', 'declares no group');
      return undefined;
    }
    const declared = new Set(paths);
    const prefixOwners = new Map<string, string>();
    const groups: GroupConfig[] = [];
    for (const path of paths) {
      const where = `groups[${path}]`;
      const segments = path.split('/');
      const bad = segments.find((s) => !GROUP_SEGMENT_RE.test(s));
      if (bad !== undefined) {
        this.problem(
          where,
          `invalid group path: ${bad === '' ? 'an empty segment' : `segment "${bad}"`} (segments are 1 to 64 letters, digits and ._-, starting with a letter or digit, joined by /)`,
        );
        continue;
      }
      const parent = segments.length > 1 ? segments.slice(0, -1).join('/') : undefined;
      if (parent !== undefined && !declared.has(parent)) this.problem(where, `its parent group ${parent} is not declared`);

      const g = this.mapping(fields[path], where, GROUP_FIELDS);
      if (!g) continue;
      const team = this.string(g, 'team', `${where}.team`, false);
      if (team !== undefined) this.matches(team, `${where}.team`, TEAM_RE, 'a team is 1 to 64 letters, digits and ._-');
      const topicArn = this.string(g, 'topicArn', `${where}.topicArn`, false);
      if (topicArn !== undefined) this.#arn(topicArn, `${where}.topicArn`, TOPIC_ARN_RE, 'expected an SNS topic ARN');
      else if (parent === undefined) this.problem(`${where}.topicArn`, 'missing field: a top-level group needs a topic (its subgroups inherit it)');
      const secretsPrefix = this.string(g, 'secretsPrefix', `${where}.secretsPrefix`, false);
      if (secretsPrefix !== undefined) {
        this.matches(secretsPrefix, `${where}.secretsPrefix`, SECRETS_PREFIX_RE, 'expected a Secrets Manager name prefix: letters, digits and /_+=.@-');
      }
      const policyPrefix = this.string(g, 'policyPrefix', `${where}.policyPrefix`, false) ?? `policies/${path}/`;
      if (this.matches(policyPrefix, `${where}.policyPrefix`, POLICY_PREFIX_RE, 'expected a key prefix ending in /, such as policies/acme/')) {
        // Policies belong to the group whose prefix is the longest one their key starts with: two groups on one prefix would own the same policies.
        const owner = prefixOwners.get(policyPrefix);
        if (owner !== undefined) this.problem(`${where}.policyPrefix`, `${policyPrefix} is already groups[${owner}]'s policy prefix`);
        else prefixOwners.set(policyPrefix, path);
      }
      groups.push(
        Object.freeze({
          path,
          ...(team !== undefined ? { team } : {}),
          ...(topicArn !== undefined ? { topicArn } : {}),
          ...(secretsPrefix !== undefined ? { secretsPrefix } : {}),
          policyPrefix,
        }),
      );
    }
    // Parents first, so that inheritance can be resolved in one pass (the sort is stable).
    groups.sort((a, b) => depth(a.path) - depth(b.path));
    return new Map(groups.map((g) => [g.path, g]));
  }

  #associations(value: unknown, groups: Map<string, GroupConfig> | undefined, defaults: Defaults | undefined): Association[] | undefined {
    const list = this.list(value, 'associations');
    if (!list) return undefined;
    const seen = new Map<string, string>();
    const seenProjects = new Map<string, string>();
    const gcpGroups = new Map<string, string>();
    const out: Association[] = [];
    list.forEach((item, i) => {
      const where = `associations[${i}]`;
      const fields = this.mapping(item, where, ASSOCIATION_FIELDS);
      if (!fields) return;
      const group = this.string(fields, 'group', `${where}.group`, true);
      if (group !== undefined && groups && !groups.has(group)) {
        this.problem(`${where}.group`, `unknown group ${group} (declared: ${[...groups.keys()].join(', ')})`);
      }
      if (fields.accounts === undefined && fields.gcp === undefined) {
        this.problem(`${where}.accounts`, 'missing field: an association has AWS accounts, GCP projects (gcp), or both');
        return;
      }
      // A GCP-only association has no accounts; what configures accounts means nothing there.
      const accounts = fields.accounts === undefined ? Object.freeze([]) : this.#accounts(fields.accounts, `${where}.accounts`, defaults, seen);
      for (const key of ['externalId', 'repositories'] as const) {
        if (fields.accounts === undefined && fields[key] !== undefined)
          this.problem(`${where}.${key}`, 'applies to AWS accounts, and this association has none');
      }
      const externalId = fields.externalId === undefined ? undefined : this.#externalId(fields.externalId, `${where}.externalId`);
      const repositories = fields.repositories === undefined ? undefined : this.#repositories(fields.repositories, `${where}.repositories`);
      const gcp = fields.gcp === undefined ? undefined : this.#gcp(fields.gcp, `${where}.gcp`, seenProjects);
      if (fields.gcp !== undefined && group !== undefined) {
        // The group's registries are read with one federated identity: two would make which one is used depend on the order.
        const first = gcpGroups.get(group);
        if (first !== undefined) this.problem(`${where}.gcp`, `group ${group} already has GCP projects (${first}): list them all in one association`);
        else gcpGroups.set(group, `${where}.gcp`);
      }
      if (group === undefined || !accounts) return;
      out.push(
        Object.freeze({
          group,
          accounts,
          ...(externalId ? { externalId } : {}),
          ...(repositories ? { repositories } : {}),
          ...(gcp ? { gcp } : {}),
        }),
      );
    });
    return out;
  }

  #gcp(value: unknown, where: string, seenProjects: Map<string, string>): GcpAssociation | undefined {
    const fields = this.mapping(value, where, GCP_FIELDS);
    if (!fields) return undefined;
    const audience = this.string(fields, 'audience', `${where}.audience`, true);
    const audienceOk =
      audience !== undefined &&
      this.matches(
        audience,
        `${where}.audience`,
        GCP_AUDIENCE_RE,
        'expected a workload identity pool provider: //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER',
      );
    const serviceAccount = this.string(fields, 'serviceAccount', `${where}.serviceAccount`, false);
    const accountOk =
      serviceAccount === undefined || this.matches(serviceAccount, `${where}.serviceAccount`, GCP_SERVICE_ACCOUNT_RE, 'expected a service account email');
    if (fields.projects === undefined) {
      this.problem(`${where}.projects`, 'missing field');
      return undefined;
    }
    const list = this.list(fields.projects, `${where}.projects`);
    if (!list) return undefined;
    const projects: GcpProject[] = [];
    let ok = audienceOk && accountOk;
    list.forEach((item, i) => {
      const at = `${where}.projects[${i}]`;
      const p = this.mapping(item, at, GCP_PROJECT_FIELDS);
      if (!p) {
        ok = false;
        return;
      }
      const id = this.string(p, 'id', `${at}.id`, true);
      let idOk =
        id !== undefined &&
        this.matches(id, `${at}.id`, GCP_PROJECT_RE, 'a project id is 6 to 30 lowercase letters, digits and hyphens, starting with a letter');
      if (idOk) {
        // One project, one group, as for accounts: its registries' credentials must not depend on which association is read first.
        const first = seenProjects.get(id!);
        if (first !== undefined) idOk = this.problem(`${at}.id`, `project ${id} is already associated (${first})`);
        else seenProjects.set(id!, at);
      }
      const locations = this.#names(
        p.locations,
        `${at}.locations`,
        'a location',
        GCP_LOCATION_RE,
        'expected an Artifact Registry location such as us-central1 or europe',
      );
      if (idOk && locations) projects.push(Object.freeze({ id: id!, locations }));
      else ok = false;
    });
    if (!ok) return undefined;
    return Object.freeze({ audience: audience!, ...(serviceAccount !== undefined ? { serviceAccount } : {}), projects: Object.freeze(projects) });
  }

  #accounts(value: unknown, where: string, defaults: Defaults | undefined, seen: Map<string, string>): readonly AccountConfig[] | undefined {
    if (value === undefined) {
      this.problem(where, 'missing field');
      return undefined;
    }
    const list = this.list(value, where);
    if (!list) return undefined;
    const out: AccountConfig[] = [];
    list.forEach((item, i) => {
      const at = `${where}[${i}]`;
      const fields = this.mapping(item, at, ACCOUNT_FIELDS);
      if (!fields) return;
      const id = this.string(fields, 'id', `${at}.id`, true);
      const idOk = id !== undefined && this.matches(id, `${at}.id`, ACCOUNT_ID_RE, 'an AWS account id is 12 digits (quote it if it starts with 0)');
      if (idOk) {
        const first = seen.get(id);
        // One account, one group: two associations would make its verdicts' team and policies depend on which one is read first.
        if (first !== undefined) this.problem(`${at}.id`, `account ${id} is already associated (${first})`);
        else seen.set(id, at);
      }
      const regions = this.#names(fields.regions, `${at}.regions`, 'a region', REGION_RE, 'expected an AWS region such as eu-west-1');
      const partition = regions && regionsPartition(regions);
      if (regions && partition === undefined) {
        this.problem(
          `${at}.regions`,
          `an account lives in one partition; these regions span several (${regions.map((r) => `${r}: ${partitionOfRegion(r)}`).join(', ')})`,
        );
      }
      if (partition !== undefined && this.#partition !== undefined && partition !== this.#partition) {
        this.problem(
          `${at}.regions`,
          `in partition ${partition}, but sigwatch runs in ${this.#partition} (operators.topicArn): STS cannot assume a role across partitions`,
        );
      }

      const roleArnText = this.string(fields, 'roleArn', `${at}.roleArn`, false);
      let roleArn: string | undefined;
      if (roleArnText !== undefined) {
        if (this.#arn(roleArnText, `${at}.roleArn`, ROLE_ARN_RE, 'expected an IAM role ARN: arn:aws:iam::ACCOUNT:role/NAME')) {
          const [, arnPartition, arnAccount] = ROLE_ARN_RE.exec(roleArnText)!;
          if (idOk && arnAccount !== id) this.problem(`${at}.roleArn`, `names account ${arnAccount}, not the associated account ${id}`);
          if (partition !== undefined && arnPartition !== partition)
            this.problem(`${at}.roleArn`, `is in partition ${arnPartition}, but the account's regions are in ${partition}`);
          roleArn = roleArnText;
        }
      } else if (idOk && partition !== undefined && defaults) {
        roleArn = `arn:${partition}:iam::${id}:role/${defaults.roleName}`;
      }
      if (idOk && regions && roleArn !== undefined) out.push(Object.freeze({ id, regions, roleArn }));
    });
    return Object.freeze(out);
  }

  /** A required, non-empty list of distinct names, each of the form `re` describes (regions, locations). */
  #names(value: unknown, where: string, noun: string, re: RegExp, expectation: string): readonly string[] | undefined {
    if (value === undefined) {
      this.problem(where, 'missing field');
      return undefined;
    }
    const list = this.list(value, where);
    if (!list) return undefined;
    const names: string[] = [];
    let ok = true;
    list.forEach((item, i) => {
      const at = `${where}[${i}]`;
      if (typeof item !== 'string') ok = this.problem(at, `expected ${noun}, got ${describeValue(item)}`);
      else if (!this.matches(item, at, re, expectation)) ok = false;
      else if (names.includes(item)) ok = this.problem(at, `${item} is listed twice`);
      else names.push(item);
    });
    return ok ? Object.freeze(names) : undefined;
  }

  #externalId(value: unknown, where: string): ExternalIdSource | undefined {
    const fields = this.mapping(value, where, EXTERNAL_ID_FIELDS);
    if (!fields) return undefined;
    const given = EXTERNAL_ID_FIELDS.filter((k) => fields[k] !== undefined);
    if (given.length !== 1) {
      this.problem(where, given.length === 0 ? 'expected secretArn (or inline, for local runs)' : 'expected exactly one of secretArn and inline, got both');
      return undefined;
    }
    if (given[0] === 'secretArn') {
      const secretArn = this.string(fields, 'secretArn', `${where}.secretArn`, true);
      if (secretArn === undefined || !this.#arn(secretArn, `${where}.secretArn`, SECRET_ARN_RE, 'expected a Secrets Manager secret ARN')) return undefined;
      return Object.freeze({ secretArn });
    }
    if (!this.#opts.allowInlineExternalId) {
      this.problem(`${where}.inline`, 'an inline ExternalId is for local runs only: keep it in Secrets Manager and give secretArn');
      return undefined;
    }
    const inline = this.string(fields, 'inline', `${where}.inline`, true);
    if (inline === undefined) return undefined;
    // The value is a secret even in a local file: the problem describes it without quoting it.
    if (!EXTERNAL_ID_RE.test(inline)) {
      this.problem(`${where}.inline`, 'invalid value: an ExternalId is 2 to 1224 letters, digits and +=,.@:/_-');
      return undefined;
    }
    return Object.freeze({ inline });
  }

  #repositories(value: unknown, where: string): readonly string[] | undefined {
    const list = this.list(value, where);
    if (!list) return undefined;
    const out: string[] = [];
    let ok = true;
    list.forEach((item, i) => {
      const at = `${where}[${i}]`;
      if (typeof item !== 'string') ok = this.problem(at, `expected a repository name or prefix, got ${describeValue(item)}`);
      else if (/[*?[\]{}]/.test(item)) ok = this.invalid(at, item, 'patterns are not supported: give an exact repository name, or a prefix ending in /');
      else if (!isRepositoryFilter(item)) ok = this.invalid(at, item, 'expected an ECR repository name (team/app) or a prefix ending in / (team/)');
      else if (out.includes(item)) ok = this.problem(at, `${item} is listed twice`);
      else out.push(item);
    });
    return ok ? Object.freeze(out) : undefined;
  }

  /** An ARN of the right form, in the partition sigwatch runs in. */
  #arn(value: string, where: string, re: RegExp, expectation: string): boolean {
    if (!this.matches(value, where, re, expectation)) return false;
    const partition = partitionOfArn(value);
    if (this.#partition !== undefined && partition !== this.#partition) {
      return this.problem(where, `is in partition ${partition}, but sigwatch runs in ${this.#partition} (operators.topicArn)`);
    }
    return true;
  }
}

function isRepositoryFilter(s: string): boolean {
  if (s.endsWith('/')) return REPOSITORY_PREFIX_RE.test(s) && s.length <= 256;
  return REPOSITORY_RE.test(s) && s.length >= 2 && s.length <= 256;
}

function depth(path: string): number {
  return path.split('/').length;
}

function partitionOfArn(arn: string): string {
  return arn.split(':')[1] ?? '';
}

function partitionOfRegion(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

/** The one partition of all the regions, or undefined when they span several. */
function regionsPartition(regions: readonly string[]): string | undefined {
  const partitions = new Set(regions.map(partitionOfRegion));
  return partitions.size === 1 ? [...partitions][0] : undefined;
}

/** A Secrets Manager ARN's secret name (with the random suffix Secrets Manager adds, which a prefix test does not mind). */
function secretName(arn: string): string {
  return arn.slice(arn.indexOf(':secret:') + ':secret:'.length);
}
