import type { AwsCredentials } from '../accounts/sts.ts';
import type { AccountConfig, Association, SigwatchConfig } from '../accounts/types.ts';
import type { AccountDirectory } from '../accounts/groups.ts';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { reasonOf } from '../errors.ts';
import type { RunHistory } from '../report/history.ts';
import { DEFAULT_TREND_RUNS } from '../report/history.ts';
import { writeReportToS3 } from '../report/outputs.ts';
import { PostureBuilder, type FailingImage, type PostureReport } from '../report/posture.ts';
import type { SyncResult } from '../report/security-hub.ts';
import type { VerdictStore } from '../store/verdicts.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../observability/log.ts';
import { emf } from './metrics.ts';
import type { RunState } from './run-ledger.ts';

/**
 * A run's last step, after its summaries: the posture report from the whole
 * verdict store (every image sigwatch holds a verdict for, not only the
 * run's), written to `<prefix><run id>/` and `<prefix>latest/` in the config
 * bucket, the run's totals added to the trend, and, when the configuration
 * enables it, each associated account × region's Security Hub findings
 * brought in line. One account whose Security Hub refuses (not enabled there,
 * the role lacks the permission) is logged and counted; the others go on.
 */

export interface ReportStepDeps {
  verdicts: Pick<VerdictStore, 'scan'>;
  history: Pick<RunHistory, 'recent' | 'record'>;
  config: SigwatchConfig;
  directory: AccountDirectory;
  s3: S3Client;
  bucket: string;
  prefix: string;
  /** A Security Hub client with the member account's session, in the account's region. */
  securityHub: (region: string, credentials: AwsCredentials) => Promise<Pick<SecurityHubClient, 'send'>>;
  credentials: (association: Association, account: AccountConfig) => Promise<AwsCredentials>;
  log: Logger;
  now: Clock;
  trendRuns?: number;
}

export interface ReportStepResult {
  report: PostureReport;
  written: string[];
  findings: SyncResult[];
  findingTargetsFailed: number;
}

export async function reportRun(state: Pick<RunState, 'runId'>, deps: ReportStepDeps): Promise<ReportStepResult> {
  const generatedAt = new Date(deps.now()).toISOString();
  const history = await deps.history.recent((deps.trendRuns ?? DEFAULT_TREND_RUNS) - 1);
  const builder = new PostureBuilder({ directory: deps.directory, generatedAt, runId: state.runId, history });
  const hub = deps.config.securityHub?.enabled === true;
  // Loaded only when enabled: the Security Hub client's model is most of a cold start's worth of code.
  const findings$ = hub ? await import('../report/security-hub.ts') : undefined;
  // Admitted images' finding ids, only when findings are kept: an archived finding then says "admitted again" rather than "gone".
  const admitted = new Set<string>();
  for await (const page of deps.verdicts.scan({ segments: 4 })) {
    builder.add(page);
    if (findings$) for (const r of page) if (r.verdict === 'admit') admitted.add(findings$.findingId(r));
  }
  const report = builder.build();
  await deps.history.record(report.trend[report.trend.length - 1]!);
  const written = await writeReportToS3(report, deps.s3, deps.bucket, deps.prefix, state.runId);

  const findings: SyncResult[] = [];
  let findingTargetsFailed = 0;
  if (findings$) {
    const byTarget = new Map<string, FailingImage[]>();
    for (const f of report.failing) {
      const k = `${f.account}/${f.region}`;
      const list = byTarget.get(k);
      if (list) list.push(f);
      else byTarget.set(k, [f]);
    }
    // Every associated account × region, failing or not: one whose images all pass again has findings to archive.
    for (const association of deps.config.associations) {
      for (const account of association.accounts) {
        const partition = account.roleArn.split(':')[1] ?? 'aws';
        for (const region of account.regions) {
          const target = { partition, account: account.id, region };
          try {
            const client = await deps.securityHub(region, await deps.credentials(association, account));
            const result = await findings$.syncFindings(target, byTarget.get(`${account.id}/${region}`) ?? [], admitted, { client, now: deps.now });
            findings.push(result);
            if (result.failed.length > 0) {
              deps.log.error('Security Hub refused findings', {
                runId: state.runId,
                account: account.id,
                region,
                failed: result.failed.slice(0, 20),
                failedCount: result.failed.length,
              });
            }
          } catch (err) {
            findingTargetsFailed++;
            deps.log.error('Security Hub findings not updated', { runId: state.runId, account: account.id, region, reason: reasonOf(err) });
          }
        }
      }
    }
  }
  const sum = (k: 'active' | 'archived') => findings.reduce((n, r) => n + r[k], 0);
  deps.log.info(
    'posture report written',
    emf(
      'reverify-worker',
      {
        reportImages: report.totals.images,
        reportFailing: report.failing.length,
        ...(hub
          ? {
              findingsActive: sum('active'),
              findingsArchived: sum('archived'),
              findingsFailed: findings.reduce((n, r) => n + r.failed.length, 0),
              findingTargetsFailed,
            }
          : {}),
      },
      { runId: state.runId, written: written.filter((w) => w.includes('/latest/')) },
      deps.now(),
    ),
  );
  return { report, written, findings, findingTargetsFailed };
}
