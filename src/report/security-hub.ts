import {
  BatchImportFindingsCommand,
  BatchUpdateFindingsCommand,
  GetFindingsCommand,
  SecurityHubClient,
  type AwsSecurityFinding,
  type AwsSecurityFindingFilters,
} from '@aws-sdk/client-securityhub';
import type { AwsCredentials } from '../accounts/sts.ts';
import type { Clock } from '../clock.ts';
import type { FailingImage } from './posture.ts';

/**
 * The failing images as Security Hub findings (ASFF), one per image, in the
 * image's own account and region: with a custom integration's product ARN
 * (`arn:PARTITION:securityhub:REGION:ACCOUNT:product/ACCOUNT/default`)
 * BatchImportFindings must be called by the account the finding names, so the
 * caller passes a client with the member account's session.
 *
 * Per account × region, on every report:
 * - every failing image is imported with a stable Id (account, region,
 *   repository, digest): the first import creates the finding, later ones
 *   update it (UpdatedAt, reasons, severity) rather than adding another;
 * - sigwatch's active findings there (GetFindings) whose image no longer
 *   fails — it passes again, or its verdict is gone (image deleted, verdict
 *   expired) — are imported again with RecordState ARCHIVED and Compliance
 *   PASSED, and their workflow set to RESOLVED (BatchUpdateFindings: the
 *   import may not change Workflow) unless a person already moved it on;
 * - imports go 100 findings a call (the API's limit); FailedFindings are
 *   retried once, then reported, never dropped silently.
 */

export const GENERATOR_ID = 'sigwatch/image-signature-policy';
export const SCHEMA_VERSION = '2018-10-08';
/** BatchImportFindings and BatchUpdateFindings take at most 100 findings a call. */
const BATCH_MAX = 100;
const MAX_DESCRIPTION = 1024;
const MAX_TITLE = 256;

const SEVERITY: Record<FailingImage['verdict'], 'HIGH' | 'MEDIUM' | 'LOW'> = { deny: 'HIGH', error: 'MEDIUM', warn: 'LOW' };
const TYPES = ['Software and Configuration Checks/Industry and Regulatory Standards/Container image signature policy'];

export interface FindingTarget {
  partition: string;
  account: string;
  region: string;
}

/** A member account's Security Hub client (its session's credentials, the account's region). */
export function securityHubClient(region: string, credentials: AwsCredentials, options: object = {}): SecurityHubClient {
  return new SecurityHubClient({ region, credentials, ...options });
}

export function productArn(t: FindingTarget): string {
  return `arn:${t.partition}:securityhub:${t.region}:${t.account}:product/${t.account}/default`;
}

/** Stable per image: the same image fails on many days and keeps one finding. */
export function findingId(image: Pick<FailingImage, 'account' | 'region' | 'repository' | 'digest'>): string {
  return `sigwatch/${image.account}/${image.region}/${image.repository}@${image.digest}`;
}

function imageArn(t: FindingTarget, repository: string, digest: string): string {
  return `arn:${t.partition}:ecr:${t.region}:${t.account}:repository/${repository}/${digest}`;
}

const VERDICT_WORDS: Record<FailingImage['verdict'], string> = { deny: 'denied', error: 'could not be verified', warn: 'passes with warnings' };

/** The finding of one failing image. `createdAt`: the existing finding's, so an update keeps it. */
export function findingOf(t: FindingTarget, image: FailingImage, now: string, createdAt?: string): AwsSecurityFinding {
  const reasons = image.reasons.length > 0 ? image.reasons.join('; ') : 'no reason recorded';
  const description = `sigwatch verdict ${image.verdict} (group ${image.group}, team ${image.team}) since ${image.since}: ${reasons}`;
  return {
    SchemaVersion: SCHEMA_VERSION,
    Id: findingId(image),
    ProductArn: productArn(t),
    ProductName: 'sigwatch',
    CompanyName: 'sigwatch',
    GeneratorId: GENERATOR_ID,
    AwsAccountId: t.account,
    Region: t.region,
    Types: TYPES,
    CreatedAt: createdAt ?? image.since,
    UpdatedAt: now,
    FirstObservedAt: image.since,
    LastObservedAt: image.lastVerified,
    Severity: { Label: SEVERITY[image.verdict] },
    Title: clip(`Container image ${image.repository}@${image.digest.slice(0, 19)} ${VERDICT_WORDS[image.verdict]} by the image signature policies`, MAX_TITLE),
    Description: clip(description, MAX_DESCRIPTION),
    Compliance: { Status: image.verdict === 'warn' ? 'WARNING' : 'FAILED' },
    RecordState: 'ACTIVE',
    ProductFields: { 'sigwatch/verdict': image.verdict, 'sigwatch/group': image.group, 'sigwatch/team': image.team, 'sigwatch/since': image.since },
    Resources: [
      {
        Type: 'AwsEcrContainerImage',
        Id: imageArn(t, image.repository, image.digest),
        Partition: t.partition as 'aws',
        Region: t.region,
        Details: { AwsEcrContainerImage: { RegistryId: t.account, RepositoryName: image.repository, ImageDigest: image.digest } },
      },
    ],
  };
}

/** An active finding of an image that passes again (`admitted`) or is gone: the same finding, archived. */
function archivedOf(existing: AwsSecurityFinding, now: string, admitted: boolean): AwsSecurityFinding {
  const {
    Workflow: _w,
    WorkflowState: _ws,
    Note: _n,
    UserDefinedFields: _u,
    VerificationState: _v,
    ProcessedAt: _p,
    FindingProviderFields: _f,
    Sample: _s,
    ...rest
  } = existing;
  return {
    ...rest,
    UpdatedAt: now,
    RecordState: 'ARCHIVED',
    Compliance: { Status: 'PASSED' },
    Description: clip(
      admitted ? `sigwatch admits this image again (${now}).` : `sigwatch holds no verdict for this image any more (deleted, or no longer verified) (${now}).`,
      MAX_DESCRIPTION,
    ),
  };
}

export interface SyncResult {
  target: FindingTarget;
  /** Findings imported as active (new or updated). */
  active: number;
  /** Findings archived. */
  archived: number;
  /** Findings Security Hub refused twice: Id and its error code. */
  failed: { id: string; code: string; message: string }[];
}

export interface SyncDeps {
  client: Pick<SecurityHubClient, 'send'>;
  now: Clock;
}

/**
 * Brings one account × region's sigwatch findings in line with its failing
 * images. `admitted`: image ids (findingId) that sigwatch admits now, so an
 * archived finding can say why.
 */
export async function syncFindings(
  target: FindingTarget,
  failing: readonly FailingImage[],
  admitted: ReadonlySet<string>,
  deps: SyncDeps,
): Promise<SyncResult> {
  const now = new Date(deps.now()).toISOString();
  const existing = await activeFindings(target, deps.client);
  const wanted = new Map(failing.map((f) => [findingId(f), f]));
  const imports: AwsSecurityFinding[] = [];
  for (const [id, image] of wanted) imports.push(findingOf(target, image, now, existing.get(id)?.CreatedAt));
  const archived: AwsSecurityFinding[] = [];
  for (const [id, finding] of existing) if (!wanted.has(id)) archived.push(archivedOf(finding, now, admitted.has(id)));
  const failed = await importAll(deps.client, [...imports, ...archived]);
  const failedIds = new Set(failed.map((f) => f.id));
  // An archived finding's workflow becomes RESOLVED when it is NEW or NOTIFIED; SUPPRESSED and RESOLVED are a person's say and stay.
  const resolve = archived.filter((f) => {
    const status = existing.get(f.Id!)?.Workflow?.Status ?? 'NEW';
    return !failedIds.has(f.Id!) && (status === 'NEW' || status === 'NOTIFIED');
  });
  for (let i = 0; i < resolve.length; i += BATCH_MAX) {
    const chunk = resolve.slice(i, i + BATCH_MAX);
    const out = await deps.client.send(
      new BatchUpdateFindingsCommand({
        FindingIdentifiers: chunk.map((f) => ({ Id: f.Id!, ProductArn: f.ProductArn! })),
        Workflow: { Status: 'RESOLVED' },
        Note: { Text: 'Resolved by sigwatch: the image passes its signature policies again, or is gone.', UpdatedBy: 'sigwatch' },
      }),
    );
    for (const u of out.UnprocessedFindings ?? [])
      failed.push({ id: u.FindingIdentifier?.Id ?? '', code: u.ErrorCode ?? 'Unprocessed', message: `workflow not resolved: ${u.ErrorMessage ?? ''}` });
  }
  return {
    target,
    active: imports.length - imports.filter((f) => failedIds.has(f.Id!)).length,
    archived: archived.length - archived.filter((f) => failedIds.has(f.Id!)).length,
    failed,
  };
}

/** sigwatch's active findings in the client's account and region, by Id. */
async function activeFindings(target: FindingTarget, client: SyncDeps['client']): Promise<Map<string, AwsSecurityFinding>> {
  const filters: AwsSecurityFindingFilters = {
    ProductArn: [{ Value: productArn(target), Comparison: 'EQUALS' }],
    GeneratorId: [{ Value: GENERATOR_ID, Comparison: 'EQUALS' }],
    RecordState: [{ Value: 'ACTIVE', Comparison: 'EQUALS' }],
  };
  const found = new Map<string, AwsSecurityFinding>();
  let token: string | undefined;
  do {
    const out = await client.send(new GetFindingsCommand({ Filters: filters, MaxResults: BATCH_MAX, ...(token ? { NextToken: token } : {}) }));
    for (const f of out.Findings ?? []) if (f.Id) found.set(f.Id, f);
    token = out.NextToken;
  } while (token);
  return found;
}

/** Imports in calls of 100; what fails is sent once more, then reported. */
async function importAll(client: SyncDeps['client'], findings: readonly AwsSecurityFinding[]): Promise<SyncResult['failed']> {
  const failedOnce: AwsSecurityFinding[] = [];
  const byId = new Map(findings.map((f) => [f.Id!, f]));
  const send = async (batch: readonly AwsSecurityFinding[]) => {
    const out = await client.send(new BatchImportFindingsCommand({ Findings: [...batch] }));
    return out.FailedFindings ?? [];
  };
  for (let i = 0; i < findings.length; i += BATCH_MAX) {
    for (const f of await send(findings.slice(i, i + BATCH_MAX))) {
      const finding = f.Id ? byId.get(f.Id) : undefined;
      if (finding) failedOnce.push(finding);
    }
  }
  const failed: SyncResult['failed'] = [];
  for (let i = 0; i < failedOnce.length; i += BATCH_MAX) {
    for (const f of await send(failedOnce.slice(i, i + BATCH_MAX)))
      failed.push({ id: f.Id ?? '', code: f.ErrorCode ?? 'Failed', message: f.ErrorMessage ?? '' });
  }
  return failed;
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
