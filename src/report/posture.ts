import type { AccountDirectory } from '../accounts/groups.ts';
import type { StoredVerdict, VerdictRecord } from '../store/verdicts.ts';

/**
 * Where the organisation stands: every stored verdict, counted per group →
 * team → account/region → repository, the images that do not pass (with why
 * and since when), and the trend over the last runs. One model, rendered as
 * HTML, JSON and CSV (render-*.ts), so the three always say the same thing.
 *
 * Built in one pass over the verdict store's pages, keeping counts and the
 * failing images only: an admitted image costs a counter, not a row.
 */

export const REPORT_SCHEMA = 'sigwatch.posture-report';
/** Bumped when a field changes meaning or goes away; new fields do not bump it (docs/report.md). */
export const REPORT_SCHEMA_VERSION = 1;

/** Worst first: how failing images are ordered. */
const SEVERITY_ORDER: Record<StoredVerdict, number> = { deny: 0, error: 1, warn: 2, admit: 3 };

/** The group of images whose account no association (any longer) owns. */
export const UNASSOCIATED = '(unassociated)';
/** The team of a group that names none. */
const NO_TEAM = '(no team)';

export interface Counts {
  images: number;
  admit: number;
  deny: number;
  warn: number;
  error: number;
}

export interface RepositoryNode {
  repository: string;
  counts: Counts;
}

export interface AccountNode {
  account: string;
  region: string;
  counts: Counts;
  repositories: RepositoryNode[];
}

export interface TeamNode {
  team: string;
  counts: Counts;
  accounts: AccountNode[];
}

export interface GroupNode {
  /** The top-level group (`acme` for `acme/payments`): the organisation unit the report is read by. */
  group: string;
  counts: Counts;
  teams: TeamNode[];
}

export interface FailingImage {
  group: string;
  team: string;
  account: string;
  region: string;
  repository: string;
  digest: string;
  verdict: Exclude<StoredVerdict, 'admit'>;
  reasons: string[];
  /** When the image was first seen with this verdict (ISO 8601). */
  since: string;
  /** Its last verification (ISO 8601). */
  lastVerified: string;
  trigger: string;
}

/** One run's totals, for the trend. */
export interface TrendPoint {
  /** The run's id, or `now` for a report made outside a run (the CLI). */
  runId: string;
  /** ISO 8601: when the run started. */
  at: string;
  counts: Counts;
}

export interface PostureReport {
  schema: typeof REPORT_SCHEMA;
  schemaVersion: typeof REPORT_SCHEMA_VERSION;
  /** ISO 8601, from the composition's clock. */
  generatedAt: string;
  /** The run this report closes, when a run made it. */
  runId?: string;
  totals: Counts;
  groups: GroupNode[];
  /** Worst verdict first, then longest failing first. */
  failing: FailingImage[];
  /** Oldest first; the last point is this report's own totals. */
  trend: TrendPoint[];
}

export function emptyCounts(): Counts {
  return { images: 0, admit: 0, deny: 0, warn: 0, error: 0 };
}

export interface PostureOptions {
  /** Who owns which account (the sigwatch configuration); without it every image is unassociated. */
  directory?: AccountDirectory;
  /** ISO 8601 time the report is made. */
  generatedAt: string;
  runId?: string;
  /** Earlier runs' totals, oldest first (RunHistory.recent). */
  history?: readonly TrendPoint[];
}

interface Owner {
  group: string;
  team: string;
}

/** Accumulates verdicts (in any order, page by page) into a report. */
export class PostureBuilder {
  readonly #opts: PostureOptions;
  readonly #totals = emptyCounts();
  readonly #groups = new Map<
    string,
    {
      counts: Counts;
      teams: Map<string, { counts: Counts; accounts: Map<string, { account: string; region: string; counts: Counts; repositories: Map<string, Counts> }> }>;
    }
  >();
  readonly #failing: FailingImage[] = [];
  readonly #owners = new Map<string, Owner>();

  constructor(opts: PostureOptions) {
    this.#opts = opts;
  }

  add(records: Iterable<VerdictRecord>): this {
    for (const r of records) this.#add(r);
    return this;
  }

  #add(r: VerdictRecord): void {
    const owner = this.#ownerOf(r);
    let g = this.#groups.get(owner.group);
    if (!g) this.#groups.set(owner.group, (g = { counts: emptyCounts(), teams: new Map() }));
    let t = g.teams.get(owner.team);
    if (!t) g.teams.set(owner.team, (t = { counts: emptyCounts(), accounts: new Map() }));
    const accountKey = `${r.account}/${r.region}`;
    let a = t.accounts.get(accountKey);
    if (!a) t.accounts.set(accountKey, (a = { account: r.account, region: r.region, counts: emptyCounts(), repositories: new Map() }));
    let repo = a.repositories.get(r.repository);
    if (!repo) a.repositories.set(r.repository, (repo = emptyCounts()));
    for (const c of [this.#totals, g.counts, t.counts, a.counts, repo]) {
      c.images++;
      c[r.verdict]++;
    }
    if (r.verdict !== 'admit') {
      this.#failing.push({
        group: owner.group,
        team: owner.team,
        account: r.account,
        region: r.region,
        repository: r.repository,
        digest: r.digest,
        verdict: r.verdict,
        reasons: r.reasons,
        since: r.since ?? r.time,
        lastVerified: r.time,
        trigger: r.trigger,
      });
    }
  }

  /** Resolved once per account/region/repository: the directory's answer does not change within a report. */
  #ownerOf(r: VerdictRecord): Owner {
    const key = `${r.account}\n${r.region}\n${r.repository}`;
    const known = this.#owners.get(key);
    if (known) return known;
    let owner: Owner = { group: UNASSOCIATED, team: NO_TEAM };
    const resolved = this.#opts.directory?.resolve(r);
    if (resolved?.known) owner = { group: resolved.group.lineage[0]!, team: resolved.group.team ?? NO_TEAM };
    this.#owners.set(key, owner);
    return owner;
  }

  build(): PostureReport {
    const byName = <T>(m: Map<string, T>) => [...m.entries()].sort(([a], [b]) => compare(a, b));
    // Groups by name, the images no association owns last: they are the operators' to sort out, not a group's.
    const groupsInOrder = byName(this.#groups).sort(([a], [b]) => Number(a === UNASSOCIATED) - Number(b === UNASSOCIATED));
    const groups: GroupNode[] = groupsInOrder.map(([group, g]) => ({
      group,
      counts: g.counts,
      teams: byName(g.teams).map(([team, t]) => ({
        team,
        counts: t.counts,
        accounts: byName(t.accounts).map(([, a]) => ({
          account: a.account,
          region: a.region,
          counts: a.counts,
          repositories: byName(a.repositories).map(([repository, counts]) => ({ repository, counts })),
        })),
      })),
    }));
    const failing = this.#failing.sort(
      (a, b) =>
        SEVERITY_ORDER[a.verdict] - SEVERITY_ORDER[b.verdict] ||
        compare(a.since, b.since) ||
        compare(a.group, b.group) ||
        compare(a.team, b.team) ||
        compare(a.account, b.account) ||
        compare(a.region, b.region) ||
        compare(a.repository, b.repository) ||
        compare(a.digest, b.digest),
    );
    const history = [...(this.#opts.history ?? [])].filter((p) => p.runId !== this.#opts.runId);
    const trend = [...history, { runId: this.#opts.runId ?? 'now', at: this.#opts.generatedAt, counts: { ...this.#totals } }];
    return {
      schema: REPORT_SCHEMA,
      schemaVersion: REPORT_SCHEMA_VERSION,
      generatedAt: this.#opts.generatedAt,
      ...(this.#opts.runId !== undefined ? { runId: this.#opts.runId } : {}),
      totals: { ...this.#totals },
      groups,
      failing,
      trend,
    };
  }
}

/** The report of a list of verdicts, in one call. */
export function buildPosture(records: Iterable<VerdictRecord>, opts: PostureOptions): PostureReport {
  return new PostureBuilder(opts).add(records).build();
}

/** Code-unit order: the same in every locale, so reports compare byte for byte. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
