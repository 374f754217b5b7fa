import { ConditionalCheckFailedException, GetItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Clock } from '../clock.ts';
import type { AccountDirectory } from '../accounts/groups.ts';
import type { SigwatchConfig } from '../accounts/types.ts';
import { SigwatchError } from '../errors.ts';
import { parsePolicyDocuments } from '../policy/parse.ts';
import { planTargets, startRun, type PlannerDeps, type PlanStats } from './planner.ts';

/**
 * A policy object created, changed or deleted in the config bucket → the
 * images whose verdict that can change, re-verified (docs/reverify.md):
 * - the groups it applies to (AccountDirectory.policyKeyApplies: its owner
 *   and the owner's descendants), and so the accounts associated with them;
 * - in those accounts, only the images the policy's globs match, before or
 *   after the change. The globs before come from the policy index (one item
 *   per policy key in the table, `policy#<key>`, written here at every
 *   change); when there is none yet, or a version cannot be read, every
 *   image of those accounts is re-verified: broad, never blind.
 */

export interface PolicyChange {
  eventId: string;
  time: string;
  bucket: string;
  key: string;
  kind: 'created' | 'deleted';
  /** S3's ordering of events on one key (hex, compared after left-padding). */
  sequencer?: string;
}

const POLICY_FILE = /\.(ya?ml|json)$/i;

/** An EventBridge `Object Created`/`Object Deleted` event from S3 → a change, or why it is not one to act on. */
export function parsePolicyChangeEvent(event: unknown, now: Clock): { ok: true; change: PolicyChange } | { ok: false; reason: string } {
  const e = (typeof event === 'object' && event !== null ? event : {}) as Record<string, unknown>;
  const detail = (typeof e.detail === 'object' && e.detail !== null ? e.detail : {}) as Record<string, unknown>;
  const bucket = (detail.bucket as { name?: unknown } | undefined)?.name;
  const object = (detail.object ?? {}) as { key?: unknown; sequencer?: unknown };
  const type = e['detail-type'];
  if (e.source !== 'aws.s3') return { ok: false, reason: `source ${JSON.stringify(e.source ?? null)}: expected aws.s3` };
  if (type !== 'Object Created' && type !== 'Object Deleted')
    return { ok: false, reason: `detail-type ${JSON.stringify(type ?? null)}: expected Object Created or Object Deleted` };
  if (typeof bucket !== 'string' || bucket === '') return { ok: false, reason: 'detail.bucket.name: missing' };
  if (typeof object.key !== 'string' || object.key === '') return { ok: false, reason: 'detail.object.key: missing' };
  if (typeof e.id !== 'string' || !/^[A-Za-z0-9-]{1,100}$/.test(e.id)) return { ok: false, reason: 'id: missing or malformed' };
  return {
    ok: true,
    change: {
      eventId: e.id,
      time: typeof e.time === 'string' ? e.time : new Date(now()).toISOString(),
      bucket,
      key: object.key,
      kind: type === 'Object Created' ? 'created' : 'deleted',
      ...(typeof object.sequencer === 'string' ? { sequencer: object.sequencer } : {}),
    },
  };
}

/** The globs of the ClusterImagePolicy documents in a policy file; undefined when it is not one that parses. */
export function globsOfPolicyText(text: string, file: string): string[] | undefined {
  const parsed = parsePolicyDocuments(text, { file });
  if (parsed.problems.some((p) => p.severity === 'error')) return undefined;
  return [...new Set(parsed.policies.flatMap((p) => p.spec.images.map((i) => i.glob)))].sort();
}

/** The last globs seen for each policy key (DynamoDB, `policy#<key>` / `-`). */
export class PolicyIndex {
  readonly #client: DynamoDBClient;
  readonly #table: string;

  constructor(client: DynamoDBClient, table: string) {
    this.#client = client;
    this.#table = table;
  }

  async get(key: string): Promise<{ globs: string[] | undefined; sequencer: string } | undefined> {
    const out = await this.#client.send(new GetItemCommand({ TableName: this.#table, Key: indexKey(key), ConsistentRead: true }));
    if (!out.Item) return undefined;
    const parsed = out.Item.parsed?.BOOL === true;
    return { globs: parsed ? (out.Item.globs?.L ?? []).map((g) => g.S ?? '') : undefined, sequencer: out.Item.sequencer?.S ?? '' };
  }

  /** Records the globs after a change, unless a later change (by sequencer) is already recorded. */
  async put(key: string, globs: string[] | undefined, sequencer: string): Promise<void> {
    try {
      await this.#client.send(
        new PutItemCommand({
          TableName: this.#table,
          Item: {
            ...indexKey(key),
            globs: { L: (globs ?? []).map((g) => ({ S: g })) },
            parsed: { BOOL: globs !== undefined },
            sequencer: { S: padSequencer(sequencer) },
          },
          ConditionExpression: 'attribute_not_exists(pk) OR sequencer <= :s',
          ExpressionAttributeValues: { ':s': { S: padSequencer(sequencer) } },
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }
}

function indexKey(key: string) {
  return { pk: { S: `policy#${key}` }, sk: { S: '-' } };
}

/** S3 sequencers compare as strings once padded to the same length. */
function padSequencer(s: string): string {
  return s.padStart(32, '0');
}

export interface PolicyChangeDeps {
  config: SigwatchConfig;
  directory: AccountDirectory;
  /** The config bucket: events of other buckets are not ours. */
  bucket: string;
  /** The object's text now; undefined when it does not exist (deleted since). */
  readObject(key: string): Promise<string | undefined>;
  index: PolicyIndex;
  planner: PlannerDeps;
}

export interface PolicyChangePlan {
  runId: string;
  groups: string[];
  /** The globs re-verified; `['**']` when the globs before or after could not be known. */
  globs: string[];
  targets: number;
  stats: PlanStats;
}

/** Plans the re-verification a change calls for; undefined when the object is not a policy of any group. */
export async function planPolicyChange(change: PolicyChange, deps: PolicyChangeDeps): Promise<PolicyChangePlan | undefined> {
  if (change.bucket !== deps.bucket) throw new SigwatchError('CONFIG', `policy change in bucket ${change.bucket}, but the config bucket is ${deps.bucket}`);
  const groups = [...deps.config.groups.keys()].filter((g) => deps.directory.policyKeyApplies(change.key, g));
  if (groups.length === 0 || !POLICY_FILE.test(change.key) || change.key.split('/').some((s) => s.startsWith('.'))) return undefined;

  const file = `s3://${change.bucket}/${change.key}`;
  const text = change.kind === 'created' ? await deps.readObject(change.key) : undefined;
  // A created object that is gone again, or that does not parse, has unknown globs.
  const after = change.kind === 'deleted' ? [] : text === undefined ? undefined : globsOfPolicyText(text, file);
  const before = await deps.index.get(change.key);
  const known = before !== undefined && before.globs !== undefined && after !== undefined;
  const globs = known ? [...new Set([...before.globs!, ...after])].sort() : ['**'];
  const affected = new Set(groups);
  const targets = planTargets(deps.config, (a) => affected.has(a.group));
  const runId = `policy-${change.eventId}`;
  const stats = await startRun(deps.planner, { runId, trigger: 'policy-change', targets, scope: { globs } });
  // Only once the run is planned: a retried event must still find the globs from before the change.
  await deps.index.put(change.key, after, change.sequencer ?? '');
  return { runId, groups, globs, targets: targets.length, stats };
}
