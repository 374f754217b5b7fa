import { recordingLogger, type LogEntry } from '../support/logs.ts';
import { PAYMENTS, RETAIL } from '../support/accounts.ts';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import {
  BatchImportFindingsCommand,
  BatchUpdateFindingsCommand,
  GetFindingsCommand,
  SecurityHubClient,
  type AwsSecurityFinding,
} from '@aws-sdk/client-securityhub';
import { mockClient } from 'aws-sdk-client-mock';
import { parseConfig } from '../../src/accounts/config.ts';
import { AccountDirectory } from '../../src/accounts/groups.ts';
import { RunHistory } from '../../src/report/history.ts';
import type { PostureReport } from '../../src/report/posture.ts';
import { reportRun } from '../../src/reverify/report-step.ts';
import { verdictRecordOf } from '../../src/store/verdict-record.ts';
import { VerdictStore, type VerdictRecord } from '../../src/store/verdicts.ts';
import { ManualClock, TEST_EPOCH } from '../support/clock.ts';
import { startDynamo, type TestDynamo } from '../support/dynamodb.ts';
import { startS3, type TestS3 } from '../support/s3.ts';
import { AWS_EXAMPLE_ACCESS_KEY_ID, AWS_EXAMPLE_SECRET_KEY } from '../support/secrets.ts';

const CONFIG = `defaults:
  roleName: sigwatch-member
operators:
  topicArn: arn:aws:sns:eu-west-1:999999999999:ops
groups:
  acme:
    team: payments
    topicArn: arn:aws:sns:eu-west-1:999999999999:acme
  globex:
    topicArn: arn:aws:sns:eu-west-1:999999999999:globex
associations:
  - group: acme
    externalId: {secretArn: "arn:aws:secretsmanager:eu-west-1:999999999999:secret:sigwatch/external-id/acme"}
    accounts:
      - id: "${PAYMENTS}"
        regions: [eu-west-1]
  - group: globex
    externalId: {secretArn: "arn:aws:secretsmanager:eu-west-1:999999999999:secret:sigwatch/external-id/globex"}
    accounts:
      - id: "${RETAIL}"
        regions: [eu-west-1, us-east-1]
securityHub:
  enabled: true
`;
const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const record = (n: number, account: string, region: string, verdict: VerdictRecord['verdict'], time: string): VerdictRecord => ({
  account,
  region,
  repository: 'app/web',
  digest: digest(n),
  verdict,
  reasons: verdict === 'admit' ? [] : ['policy signed: no signature'],
  warnings: [],
  time,
  policyVersions: {},
  policySetVersion: 'v1',
  trigger: 'reverify',
});

describe('verdict store: since', () => {
  let dynamo: TestDynamo;
  let table: string;
  before(async () => {
    dynamo = await startDynamo();
    table = await dynamo.table();
  });
  after(() => dynamo.stop());

  it('put keeps `since` while the verdict stays and starts it again when the verdict changes (on-push)', async () => {
    const clock = new ManualClock();
    const store = new VerdictStore(dynamo.client, table, { now: clock.now });
    const t = (d: number) => new Date(TEST_EPOCH + d * 86_400_000).toISOString();
    await store.put(record(1, PAYMENTS, 'eu-west-1', 'deny', t(0)));
    await store.put(record(1, PAYMENTS, 'eu-west-1', 'deny', t(1)));
    let got = await store.get(record(1, PAYMENTS, 'eu-west-1', 'deny', t(1)));
    assert.equal(got?.since, t(0));
    assert.equal(got?.time, t(1));
    await store.put(record(1, PAYMENTS, 'eu-west-1', 'admit', t(2)));
    got = await store.get(record(1, PAYMENTS, 'eu-west-1', 'admit', t(2)));
    assert.deepEqual([got?.verdict, got?.since], ['admit', t(2)]);
  });

  it('the worker carries `since` from the stored verdict when it stays, and starts it when it changes', () => {
    const before = { ...record(1, PAYMENTS, 'eu-west-1', 'deny', '2026-11-22T00:00:00.000Z'), since: '2026-11-01T00:00:00.000Z' };
    const now = new Date(TEST_EPOCH);
    const deny = { verdict: { verdict: 'deny' as const, reasons: ['x'], policies: [], image: '', digest: '' } as never, policySetVersion: 'v1' };
    assert.equal(verdictRecordOf(before, deny, 'reverify', now, before).since, '2026-11-01T00:00:00.000Z');
    assert.equal(verdictRecordOf(before, { verdict: { error: 'timed out' }, policySetVersion: '' }, 'reverify', now, before).since, now.toISOString());
    assert.equal(verdictRecordOf(before, deny, 'reverify', now).since, now.toISOString());
  });
});

describe("a run's last step: the report to S3, the trend, Security Hub", () => {
  let dynamo: TestDynamo;
  let s3: TestS3;
  let table: string;
  const hub = mockClient(SecurityHubClient);
  before(async () => {
    dynamo = await startDynamo();
    table = await dynamo.table();
    s3 = await startS3();
    await s3.bucket('config-bucket');
  });
  after(async () => {
    hub.restore();
    await dynamo.stop();
    await s3.stop();
  });

  it('writes reports/<run>/ and reports/latest/, records the run for the trend, and syncs each associated account × region with its own session', async () => {
    const parsed = parseConfig(CONFIG);
    assert.ok(parsed.ok);
    const clock = new ManualClock();
    const store = new VerdictStore(dynamo.client, table, { now: clock.now });
    const time = new Date(TEST_EPOCH).toISOString();
    await store.putMany([
      record(1, PAYMENTS, 'eu-west-1', 'deny', time),
      record(2, PAYMENTS, 'eu-west-1', 'admit', time),
      record(3, RETAIL, 'us-east-1', 'error', time),
      record(4, RETAIL, 'eu-west-1', 'admit', time),
    ]);
    const history = new RunHistory(dynamo.client, table, { now: clock.now });
    await history.record({
      runId: 'reverify-yesterday',
      at: new Date(TEST_EPOCH - 86_400_000).toISOString(),
      counts: { images: 4, admit: 1, deny: 3, warn: 0, error: 0 },
    });

    hub.reset();
    // Account RETAIL eu-west-1 had a finding for image 4, which passes now.
    hub.on(GetFindingsCommand).callsFake(async (input: { Filters: { ProductArn: { Value: string }[] } }) => {
      const product = input.Filters.ProductArn[0]!.Value;
      if (product !== `arn:aws:securityhub:eu-west-1:${RETAIL}:product/${RETAIL}/default`) return { Findings: [] };
      const old = {
        Id: `sigwatch/${RETAIL}/eu-west-1/app/web@${digest(4)}`,
        ProductArn: product,
        AwsAccountId: RETAIL,
        CreatedAt: '2026-11-01T00:00:00.000Z',
        Workflow: { Status: 'NEW' },
      } as AwsSecurityFinding;
      return { Findings: [old] };
    });
    hub
      .on(BatchImportFindingsCommand)
      .callsFake(async (input: { Findings: AwsSecurityFinding[] }) => ({ SuccessCount: input.Findings.length, FailedCount: 0, FailedFindings: [] }));
    hub.on(BatchUpdateFindingsCommand).resolves({ ProcessedFindings: [], UnprocessedFindings: [] });
    const sessions: string[] = [];
    const logs: LogEntry[] = [];
    const result = await reportRun(
      { runId: 'reverify-20261123T031700Z' },
      {
        verdicts: store,
        history,
        config: parsed.config,
        directory: new AccountDirectory(parsed.config),
        s3: s3.client,
        bucket: 'config-bucket',
        prefix: 'reports/',
        credentials: async (_association, account) => {
          sessions.push(account.id);
          return { accessKeyId: `AKIA${account.id}`, secretAccessKey: 'secret', sessionToken: 'token', expiration: new Date(TEST_EPOCH + 3_600_000) };
        },
        securityHub: async (region, credentials) => {
          sessions.push(`${region}:${credentials.accessKeyId}`);
          return new SecurityHubClient({ region, credentials });
        },
        log: recordingLogger(logs),
        now: clock.now,
      },
    );
    const keys = ['report.html', 'report.json', 'report.csv'];
    assert.deepEqual(result.written, [
      ...keys.map((k) => `s3://config-bucket/reports/reverify-20261123T031700Z/${k}`),
      ...keys.map((k) => `s3://config-bucket/reports/latest/${k}`),
    ]);
    const latest = JSON.parse(
      await (await s3.client.send(new GetObjectCommand({ Bucket: 'config-bucket', Key: 'reports/latest/report.json' }))).Body!.transformToString(),
    ) as PostureReport;
    assert.equal(latest.runId, 'reverify-20261123T031700Z');
    assert.deepEqual(latest.totals, { images: 4, admit: 2, deny: 1, warn: 0, error: 1 });
    assert.deepEqual(
      latest.trend.map((p) => p.runId),
      ['reverify-yesterday', 'reverify-20261123T031700Z'],
    );
    const html = await (
      await s3.client.send(new GetObjectCommand({ Bucket: 'config-bucket', Key: 'reports/reverify-20261123T031700Z/report.html' }))
    ).Body!.transformToString();
    assert.match(html, /^<!DOCTYPE html>/);
    // The run is on the trend now: the next report sees it.
    assert.deepEqual(
      (await history.recent(5)).map((p) => p.runId),
      ['reverify-yesterday', 'reverify-20261123T031700Z'],
    );

    // Security Hub: each associated account × region, with that account's session.
    assert.deepEqual(sessions, [PAYMENTS, `eu-west-1:AKIA${PAYMENTS}`, RETAIL, `eu-west-1:AKIA${RETAIL}`, RETAIL, `us-east-1:AKIA${RETAIL}`]);
    const imported = hub
      .commandCalls(BatchImportFindingsCommand)
      .map((c) => c.args[0].input.Findings!.map((f) => [f.AwsAccountId, f.Region ?? '-', f.RecordState, f.Id]));
    assert.deepEqual(imported, [
      [[PAYMENTS, 'eu-west-1', 'ACTIVE', `sigwatch/${PAYMENTS}/eu-west-1/app/web@${digest(1)}`]],
      [[RETAIL, '-', 'ARCHIVED', `sigwatch/${RETAIL}/eu-west-1/app/web@${digest(4)}`]],
      [[RETAIL, 'us-east-1', 'ACTIVE', `sigwatch/${RETAIL}/us-east-1/app/web@${digest(3)}`]],
    ]);
    assert.equal(hub.commandCalls(BatchUpdateFindingsCommand).length, 1);
    assert.deepEqual(
      result.findings.map((f) => [f.target.account, f.target.region, f.active, f.archived]),
      [
        [PAYMENTS, 'eu-west-1', 1, 0],
        [RETAIL, 'eu-west-1', 0, 1],
        [RETAIL, 'us-east-1', 1, 0],
      ],
    );
    const metric = logs.find((l) => l.message === 'posture report written')!;
    assert.deepEqual([metric.reportImages, metric.reportFailing, metric.findingsActive, metric.findingsArchived, metric.findingsFailed], [4, 2, 2, 1, 0]);
  });

  it('one account whose Security Hub refuses is logged and counted; the others are still synced', async () => {
    const parsed = parseConfig(CONFIG);
    assert.ok(parsed.ok);
    hub.reset();
    hub.on(GetFindingsCommand).callsFake(async (input: { Filters: { ProductArn: { Value: string }[] } }) => {
      if (input.Filters.ProductArn[0]!.Value.includes(`:${PAYMENTS}:`))
        throw Object.assign(new Error('Account is not subscribed to AWS Security Hub'), { name: 'InvalidAccessException' });
      return { Findings: [] };
    });
    hub.on(BatchImportFindingsCommand).resolves({ SuccessCount: 1, FailedCount: 0, FailedFindings: [] });
    const logs: LogEntry[] = [];
    const clock = new ManualClock();
    const result = await reportRun(
      { runId: 'reverify-2' },
      {
        verdicts: new VerdictStore(dynamo.client, table, { now: clock.now }),
        history: new RunHistory(dynamo.client, table, { now: clock.now }),
        config: parsed.config,
        directory: new AccountDirectory(parsed.config),
        s3: s3.client,
        bucket: 'config-bucket',
        prefix: 'reports/',
        credentials: async () => ({
          accessKeyId: AWS_EXAMPLE_ACCESS_KEY_ID,
          secretAccessKey: AWS_EXAMPLE_SECRET_KEY,
          sessionToken: 't',
          expiration: new Date(TEST_EPOCH + 3_600_000),
        }),
        securityHub: async (region, credentials) => new SecurityHubClient({ region, credentials }),
        log: recordingLogger(logs),
        now: clock.now,
      },
    );
    assert.equal(result.findingTargetsFailed, 1);
    assert.equal(result.findings.length, 2);
    const failure = logs.find((l) => l.message === 'Security Hub findings not updated')!;
    assert.equal(failure.account, PAYMENTS);
    assert.match(String(failure.reason), /not subscribed/);
  });
});
