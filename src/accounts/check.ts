import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import { DescribeRepositoriesCommand, GetAuthorizationTokenCommand, type ECRClient } from '@aws-sdk/client-ecr';
import { awsErrorLabel, awsFailureOf, type AwsFailure } from '../aws-errors.ts';
import { SigwatchError } from '../errors.ts';
import { AssumeRoleError, type AwsCredentials, type AwsSessions } from './sts.ts';
import type { GcpCheckTarget } from './check-gcp.ts';
import type { AccountConfig, Association, SigwatchConfig } from './types.ts';

/**
 * Does each association work? For every account (and each of its regions)
 * at or below a group: assume its role as the functions do (ExternalId,
 * SourceIdentity), ask STS who the session is, and make the read-only ECR calls
 * a verification starts with. Chainguard's `chainctl iam groups check-aws`
 * answers the same question for Enforce. Nothing here prints: the caller
 * renders the results.
 */

export type CheckName = 'assume-role' | 'caller-identity' | 'ecr-describe-repositories' | 'ecr-authorization-token';

/** In the order they run: a failed step skips the ones after it that need its result. */
export const CHECKS: readonly CheckName[] = ['assume-role', 'caller-identity', 'ecr-describe-repositories', 'ecr-authorization-token'];

export interface CheckStep {
  check: CheckName;
  status: 'ok' | 'failed' | 'skipped';
  /** What was found (ok) or what is missing (failed); never a credential or a service's own message. */
  detail: string;
  /** How an AWS call failed, when one did: what the summary line says is decided by it, not by the detail's words. */
  failure?: AwsFailure;
}

export interface AccountRegionCheck {
  group: string;
  account: string;
  region: string;
  roleArn: string;
  ok: boolean;
  steps: CheckStep[];
}

export interface CheckTarget {
  association: Association;
  account: AccountConfig;
}

export interface CheckClients {
  /** Opens member-account sessions as the functions do. */
  sessions: AwsSessions;
  /** STS in `region`, with the member account's session. */
  sts: (region: string, credentials: AwsCredentials) => STSClient;
  /** ECR in `region`, with the member account's session. */
  ecr: (region: string, credentials: AwsCredentials) => ECRClient;
}

export interface CheckSelection {
  /** This group and the groups below it; every group when absent. */
  group?: string;
  /** Only this AWS account (no GCP project then, unless `project` is given too). */
  account?: string;
  /** Only this GCP project (no AWS account then, unless `account` is given too). */
  project?: string;
}

export interface CheckTargets {
  aws: CheckTarget[];
  gcp: GcpCheckTarget[];
}

/**
 * The AWS accounts and GCP projects of every association whose group is
 * `group` or below it (`acme` covers `acme/payments/api`, not `acme-labs`).
 * A group, account or project the configuration does not have is a CONFIG
 * error: checking nothing must not look like success.
 */
export function checkTargets(config: SigwatchConfig, selection: CheckSelection = {}): CheckTargets {
  const { group, account: accountId, project } = selection;
  if (group !== undefined && !config.groups.has(group)) {
    throw new SigwatchError('CONFIG', `group ${group} is not in the sigwatch configuration (groups: ${[...config.groups.keys()].join(', ')})`);
  }
  const under = (g: string) => group === undefined || g === group || g.startsWith(`${group}/`);
  const anyFilter = accountId !== undefined || project !== undefined;
  const targets: CheckTargets = { aws: [], gcp: [] };
  for (const association of config.associations) {
    if (!under(association.group)) continue;
    for (const account of association.accounts) {
      if (anyFilter ? account.id === accountId : true) targets.aws.push({ association, account });
    }
    const gcp = association.gcp;
    const projects = gcp?.projects.filter((p) => (anyFilter ? p.id === project : true)) ?? [];
    if (gcp && projects.length > 0) targets.gcp.push({ group: association.group, gcp, projects });
  }
  const scope = group === undefined ? 'the sigwatch configuration' : `group ${group} or below it`;
  if (accountId !== undefined && !targets.aws.some((t) => t.account.id === accountId)) {
    throw new SigwatchError('CONFIG', `account ${accountId} is not associated with ${scope}`);
  }
  if (project !== undefined && targets.gcp.length === 0) throw new SigwatchError('CONFIG', `GCP project ${project} is not associated with ${scope}`);
  if (targets.aws.length === 0 && targets.gcp.length === 0) throw new SigwatchError('CONFIG', `no account or project is associated with ${scope}`);
  return targets;
}

/** Accounts checked at once: enough to be quick, few enough to stay under STS's request rate in a large organisation. */
const CONCURRENCY = 8;

/** Checks every target in each of its regions, in the targets' order; one account's failure never stops the others. */
export async function checkAssociations(targets: readonly CheckTarget[], clients: CheckClients): Promise<AccountRegionCheck[]> {
  const perAccount: AccountRegionCheck[][] = new Array(targets.length);
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const i = next++;
      perAccount[i] = await checkAccount(targets[i]!, clients);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, targets.length) }, worker));
  return perAccount.flat();
}

async function checkAccount({ association, account }: CheckTarget, clients: CheckClients): Promise<AccountRegionCheck[]> {
  let credentials: AwsCredentials | undefined;
  let assume: CheckStep;
  try {
    credentials = await clients.sessions.credentialsFor(association, account);
    assume = { check: 'assume-role', status: 'ok', detail: `assumed ${account.roleArn}` };
  } catch (err) {
    // AssumeRoleError messages name the account and role, never the ExternalId.
    const detail = err instanceof AssumeRoleError ? err.message : `cannot assume ${account.roleArn}: ${awsErrorLabel(err)}`;
    assume = { check: 'assume-role', status: 'failed', detail, failure: err instanceof AssumeRoleError ? err.failure : awsFailureOf(err) };
  }
  return Promise.all(
    account.regions.map(async (region) => {
      const steps: CheckStep[] = [assume];
      if (!credentials) {
        for (const check of CHECKS.slice(1)) steps.push({ check, status: 'skipped', detail: 'needs the role' });
      } else {
        steps.push(await callerIdentity(clients.sts(region, credentials), account));
        steps.push(
          await step(
            'ecr-describe-repositories',
            'ecr:DescribeRepositories',
            () => clients.ecr(region, credentials).send(new DescribeRepositoriesCommand({ maxResults: 1 })),
            (out) => `${out.repositories?.length ? 'repositories readable' : 'allowed (no repository yet)'}`,
          ),
        );
        // The token is a credential: only whether one came back is kept.
        steps.push(
          await step(
            'ecr-authorization-token',
            'ecr:GetAuthorizationToken',
            () => clients.ecr(region, credentials).send(new GetAuthorizationTokenCommand({})),
            (out) => (out.authorizationData?.length ? 'registry login token issued' : 'no token in the answer'),
          ),
        );
        const token = steps.at(-1)!;
        if (token.status === 'ok' && token.detail === 'no token in the answer') token.status = 'failed';
      }
      return { group: association.group, account: account.id, region, roleArn: account.roleArn, ok: steps.every((s) => s.status === 'ok'), steps };
    }),
  );
}

/** The session must be the member role in the member account: anything else is a misconfigured roleArn. */
async function callerIdentity(sts: STSClient, account: AccountConfig): Promise<CheckStep> {
  const role = account.roleArn.slice(account.roleArn.lastIndexOf('/') + 1);
  let out;
  try {
    out = await sts.send(new GetCallerIdentityCommand({}));
  } catch (err) {
    return { check: 'caller-identity', status: 'failed', detail: `sts:GetCallerIdentity failed (${awsErrorLabel(err)})`, failure: awsFailureOf(err) };
  }
  const arn = out.Arn ?? '';
  if (out.Account !== account.id || !arn.includes(`:assumed-role/${role}/`)) {
    return {
      check: 'caller-identity',
      status: 'failed',
      detail: `the session is ${arn || 'unknown'} in account ${out.Account ?? 'unknown'}, not role ${role} in ${account.id}`,
    };
  }
  return { check: 'caller-identity', status: 'ok', detail: arn };
}

async function step<T>(check: CheckName, action: string, call: () => Promise<T>, describe: (out: T) => string): Promise<CheckStep> {
  try {
    return { check, status: 'ok', detail: describe(await call()) };
  } catch (err) {
    const failure = awsFailureOf(err);
    const missing = failure === 'access-denied' ? `the role lacks ${action}` : `${action} failed`;
    return { check, status: 'failed', detail: `${missing} (${awsErrorLabel(err)})`, failure };
  }
}

/** What the first failed step of an account region says about how far it got. */
const FAILED_AT: Record<CheckName, (step: CheckStep) => string> = {
  'assume-role': (s) => (s.failure === 'no-credentials' ? 'no AWS credentials found' : 'role not assumed'),
  'caller-identity': () => 'role assumed, but the session is not that role',
  'ecr-describe-repositories': (s) => `role assumed, ECR listing ${s.failure === 'access-denied' ? 'refused' : 'failed'}`,
  'ecr-authorization-token': (s) => `role assumed, ECR login token ${s.failure === 'access-denied' ? 'refused' : 'not issued'}`,
};

/**
 * The AWS half of the one-line answer, as `chainctl iam groups check-aws`
 * gives it; a failure names the step each account region stopped at, so a
 * role that was assumed is never reported as an impersonation failure.
 */
export function checkVerdict(results: readonly AccountRegionCheck[]): string {
  const failed = results.filter((r) => !r.ok);
  if (failed.length === 0) return 'AWS role impersonation was successful!';
  const firstFailure = (r: AccountRegionCheck) => r.steps.find((s) => s.status === 'failed')!;
  const noCredentials = failed.every((r) => firstFailure(r).failure === 'no-credentials');
  if (noCredentials)
    return `AWS checks not run: no AWS credentials found (${failed.length} of ${results.length} account region${results.length === 1 ? '' : 's'} unchecked)`;
  const head = failed.every((r) => firstFailure(r).check === 'assume-role') ? 'AWS role impersonation failed' : 'AWS checks failed';
  const where = failed.map((r) => `${r.account} (${r.region}): ${FAILED_AT[firstFailure(r).check](firstFailure(r))}`).join(', ');
  return `${head} for ${failed.length} of ${results.length} account region${results.length === 1 ? '' : 's'}: ${where}`;
}
