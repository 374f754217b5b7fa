import { PAYMENTS } from '../support/accounts.ts';
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import {
  BatchImportFindingsCommand,
  BatchUpdateFindingsCommand,
  GetFindingsCommand,
  SecurityHubClient,
  type AwsSecurityFinding,
} from '@aws-sdk/client-securityhub';
import { mockClient } from 'aws-sdk-client-mock';
import { parseConfig } from '../../src/accounts/config.ts';
import type { FailingImage } from '../../src/report/posture.ts';
import { findingId, findingOf, GENERATOR_ID, productArn, syncFindings } from '../../src/report/security-hub.ts';
import { TEST_EPOCH, testNow } from '../support/clock.ts';

/**
 * Security Hub cannot run here: its client is mocked and every request is
 * asserted exactly (docs/report.md, "Security Hub").
 */

const REGION = 'eu-west-1';
const TARGET = { partition: 'aws', account: PAYMENTS, region: REGION };
const PRODUCT = `arn:aws:securityhub:eu-west-1:${PAYMENTS}:product/${PAYMENTS}/default`;
const NOW = new Date(TEST_EPOCH).toISOString();
const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

function failing(n: number, over: Partial<FailingImage> = {}): FailingImage {
  return {
    group: 'acme',
    team: 'payments',
    account: PAYMENTS,
    region: REGION,
    repository: 'payments/api',
    digest: digest(n),
    verdict: 'deny',
    reasons: ['policy require-signature: no matching signatures'],
    since: '2026-11-20T03:17:00.000Z',
    lastVerified: '2026-11-23T03:17:00.000Z',
    trigger: 'reverify',
    ...over,
  };
}

const ACTIVE_FILTERS = {
  ProductArn: [{ Value: PRODUCT, Comparison: 'EQUALS' }],
  GeneratorId: [{ Value: GENERATOR_ID, Comparison: 'EQUALS' }],
  RecordState: [{ Value: 'ACTIVE', Comparison: 'EQUALS' }],
};

/** The finding sigwatch sends for image n, exactly. */
function expectedFinding(n: number, createdAt = '2026-11-20T03:17:00.000Z'): AwsSecurityFinding {
  return {
    SchemaVersion: '2018-10-08',
    Id: `sigwatch/${PAYMENTS}/${REGION}/payments/api@${digest(n)}`,
    ProductArn: PRODUCT,
    ProductName: 'sigwatch',
    CompanyName: 'sigwatch',
    GeneratorId: 'sigwatch/image-signature-policy',
    AwsAccountId: PAYMENTS,
    Region: REGION,
    Types: ['Software and Configuration Checks/Industry and Regulatory Standards/Container image signature policy'],
    CreatedAt: createdAt,
    UpdatedAt: NOW,
    FirstObservedAt: '2026-11-20T03:17:00.000Z',
    LastObservedAt: '2026-11-23T03:17:00.000Z',
    Severity: { Label: 'HIGH' },
    Title: `Container image payments/api@${digest(n).slice(0, 19)} denied by the image signature policies`,
    Description: 'sigwatch verdict deny (group acme, team payments) since 2026-11-20T03:17:00.000Z: policy require-signature: no matching signatures',
    Compliance: { Status: 'FAILED' },
    RecordState: 'ACTIVE',
    ProductFields: { 'sigwatch/verdict': 'deny', 'sigwatch/group': 'acme', 'sigwatch/team': 'payments', 'sigwatch/since': '2026-11-20T03:17:00.000Z' },
    Resources: [
      {
        Type: 'AwsEcrContainerImage',
        Id: `arn:aws:ecr:${REGION}:${PAYMENTS}:repository/payments/api/${digest(n)}`,
        Partition: 'aws',
        Region: REGION,
        Details: { AwsEcrContainerImage: { RegistryId: PAYMENTS, RepositoryName: 'payments/api', ImageDigest: digest(n) } },
      },
    ],
  };
}

/** A finding as GetFindings returns it: what sigwatch imported, plus what Security Hub adds. */
function stored(n: number, over: Partial<AwsSecurityFinding> = {}): AwsSecurityFinding {
  return {
    ...expectedFinding(n, '2026-11-10T00:00:00.000Z'),
    UpdatedAt: '2026-11-22T03:20:00.000Z',
    ProcessedAt: '2026-11-22T03:20:01.000Z',
    Workflow: { Status: 'NEW' },
    WorkflowState: 'NEW',
    FindingProviderFields: { Severity: { Label: 'HIGH' }, Types: expectedFinding(n).Types },
    ...over,
  };
}

describe('Security Hub findings', () => {
  const hub = mockClient(SecurityHubClient);
  const client = new SecurityHubClient({ region: REGION, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  beforeEach(() => {
    hub.reset();
    hub
      .on(BatchImportFindingsCommand)
      .callsFake(async (input: { Findings: AwsSecurityFinding[] }) => ({ SuccessCount: input.Findings.length, FailedCount: 0, FailedFindings: [] }));
    hub.on(BatchUpdateFindingsCommand).resolves({ ProcessedFindings: [], UnprocessedFindings: [] });
  });
  const imports = () => hub.commandCalls(BatchImportFindingsCommand).map((c) => c.args[0].input);
  const updates = () => hub.commandCalls(BatchUpdateFindingsCommand).map((c) => c.args[0].input);
  const gets = () => hub.commandCalls(GetFindingsCommand).map((c) => c.args[0].input);

  it('the custom integration product ARN and a stable id per image', () => {
    assert.equal(productArn(TARGET), PRODUCT);
    assert.equal(
      productArn({ partition: 'aws-cn', account: PAYMENTS, region: 'cn-north-1' }),
      `arn:aws-cn:securityhub:cn-north-1:${PAYMENTS}:product/${PAYMENTS}/default`,
    );
    const reworded: FailingImage = { ...failing(1), reasons: ['another wording'], verdict: 'error' };
    assert.equal(findingId(failing(1)), findingId(reworded));
    assert.equal(findingId(failing(1)), `sigwatch/${PAYMENTS}/${REGION}/payments/api@${digest(1)}`);
  });

  it('a new failure: one finding imported in the member account, created at the time the image was first seen failing', async () => {
    hub.on(GetFindingsCommand).resolves({ Findings: [] });
    const result = await syncFindings(TARGET, [failing(1)], new Set(), { client, now: testNow });
    assert.deepEqual(gets(), [{ Filters: ACTIVE_FILTERS, MaxResults: 100 }]);
    assert.deepEqual(imports(), [{ Findings: [expectedFinding(1)] }]);
    assert.deepEqual(updates(), []);
    assert.deepEqual(result, { target: TARGET, active: 1, archived: 0, failed: [] });
  });

  it('still failing: the same finding id updated (UpdatedAt now, CreatedAt kept), never a second finding', async () => {
    hub.on(GetFindingsCommand).resolves({ Findings: [stored(1)] });
    const result = await syncFindings(TARGET, [failing(1)], new Set(), { client, now: testNow });
    assert.deepEqual(imports(), [{ Findings: [expectedFinding(1, '2026-11-10T00:00:00.000Z')] }]);
    assert.deepEqual(updates(), []);
    assert.equal(result.active, 1);
  });

  it('fixed: the finding archived (RecordState ARCHIVED, Compliance PASSED) and its workflow RESOLVED; gone images too', async () => {
    hub
      .on(GetFindingsCommand)
      .resolvesOnce({ Findings: [stored(1)], NextToken: 'page-2' })
      .resolvesOnce({ Findings: [stored(2, { Workflow: { Status: 'SUPPRESSED' } })] });
    const result = await syncFindings(TARGET, [], new Set([findingId(failing(1))]), { client, now: testNow });
    assert.deepEqual(gets(), [
      { Filters: ACTIVE_FILTERS, MaxResults: 100 },
      { Filters: ACTIVE_FILTERS, MaxResults: 100, NextToken: 'page-2' },
    ]);
    const archived = (n: number, description: string): AwsSecurityFinding => ({
      ...expectedFinding(n, '2026-11-10T00:00:00.000Z'),
      UpdatedAt: NOW,
      RecordState: 'ARCHIVED',
      Compliance: { Status: 'PASSED' },
      Description: description,
    });
    assert.deepEqual(imports(), [
      {
        Findings: [
          archived(1, `sigwatch admits this image again (${NOW}).`),
          archived(2, `sigwatch holds no verdict for this image any more (deleted, or no longer verified) (${NOW}).`),
        ],
      },
    ]);
    // A person's SUPPRESSED stays theirs; the NEW one is resolved.
    assert.deepEqual(updates(), [
      {
        FindingIdentifiers: [{ Id: findingId(failing(1)), ProductArn: PRODUCT }],
        Workflow: { Status: 'RESOLVED' },
        Note: { Text: 'Resolved by sigwatch: the image passes its signature policies again, or is gone.', UpdatedBy: 'sigwatch' },
      },
    ]);
    assert.deepEqual(result, { target: TARGET, active: 0, archived: 2, failed: [] });
  });

  it('a partial failure: FailedFindings sent once more; those refused again reported, the rest counted; 100 findings a call', async () => {
    hub.on(GetFindingsCommand).resolves({ Findings: [] });
    const images = Array.from({ length: 205 }, (_, i) => failing(i + 1));
    const flaky = findingId(images[10]!);
    const broken = findingId(images[150]!);
    let flakyOnce = true;
    hub.on(BatchImportFindingsCommand).callsFake(async (input: { Findings: AwsSecurityFinding[] }) => {
      const failed = input.Findings.filter((f) => f.Id === broken || (f.Id === flaky && flakyOnce)).map((f) => ({
        Id: f.Id!,
        ErrorCode: f.Id === broken ? 'InvalidInput' : 'ThrottlingException',
        ErrorMessage: f.Id === broken ? 'Finding does not adhere to ASFF' : 'Rate exceeded',
      }));
      if (input.Findings.some((f) => f.Id === flaky)) flakyOnce = false;
      return { SuccessCount: input.Findings.length - failed.length, FailedCount: failed.length, FailedFindings: failed };
    });
    const result = await syncFindings(TARGET, images, new Set(), { client, now: testNow });
    const sent = imports();
    assert.deepEqual(
      sent.map((i) => i.Findings!.length),
      [100, 100, 5, 2],
      'three calls of ≤ 100, then one retry of the two that failed',
    );
    assert.deepEqual(
      sent[3]!.Findings!.map((f) => f.Id),
      [flaky, broken],
    );
    assert.deepEqual(sent[3]!.Findings![0], findingOf(TARGET, images[10]!, NOW));
    assert.deepEqual(result.failed, [{ id: broken, code: 'InvalidInput', message: 'Finding does not adhere to ASFF' }]);
    assert.equal(result.active, 204);
  });

  it('warn is LOW with Compliance WARNING, error MEDIUM', () => {
    assert.deepEqual(findingOf(TARGET, failing(1, { verdict: 'warn' }), NOW).Severity, { Label: 'LOW' });
    assert.deepEqual(findingOf(TARGET, failing(1, { verdict: 'warn' }), NOW).Compliance, { Status: 'WARNING' });
    assert.deepEqual(findingOf(TARGET, failing(1, { verdict: 'error' }), NOW).Severity, { Label: 'MEDIUM' });
    const long = findingOf(TARGET, failing(1, { reasons: ['x'.repeat(5000)] }), NOW);
    assert.equal(long.Description!.length, 1024);
  });
});

describe('securityHub in sigwatch.yaml', () => {
  const base = `defaults:
  roleName: sigwatch-member
operators:
  topicArn: arn:aws:sns:eu-west-1:999999999999:ops
groups:
  acme:
    topicArn: arn:aws:sns:eu-west-1:999999999999:acme
associations:
  - group: acme
    externalId: {secretArn: "arn:aws:secretsmanager:eu-west-1:999999999999:secret:sigwatch/external-id/acme"}
    accounts:
      - id: "111122223333"
        regions: [eu-west-1]
`;
  it('enabled: true or false; off when absent', () => {
    const on = parseConfig(`${base}securityHub:\n  enabled: true\n`);
    assert.ok(on.ok);
    assert.deepEqual(on.config.securityHub, { enabled: true });
    const off = parseConfig(`${base}securityHub: {enabled: false}\n`);
    assert.ok(off.ok);
    assert.deepEqual(off.config.securityHub, { enabled: false });
    const absent = parseConfig(base);
    assert.ok(absent.ok);
    assert.equal(absent.config.securityHub, undefined);
  });

  it('anything else is a problem naming its field path', () => {
    const problems = (text: string) => {
      const r = parseConfig(base + text);
      assert.ok(!r.ok);
      return r.problems;
    };
    assert.deepEqual(problems('securityHub:\n  enabled: yes\n'), [{ path: 'securityHub.enabled', message: 'invalid value: "yes": expected true or false' }]);
    assert.deepEqual(problems('securityHub: {}\n'), [{ path: 'securityHub.enabled', message: 'missing field' }]);
    assert.deepEqual(problems('securityHub: {enabled: true, region: eu-west-1}\n'), [
      { path: 'securityHub.region', message: 'unknown field (expected enabled)' },
    ]);
    assert.deepEqual(problems('securityHub: true\n'), [{ path: 'securityHub', message: 'expected a mapping, got "true"' }]);
  });
});
