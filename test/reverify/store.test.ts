import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { MAX_CHANGES_LISTED, RunLedger } from '../../src/reverify/run-ledger.ts';
import { imageId, MAX_REASONS, VerdictStore, type VerdictRecord } from '../../src/store/verdicts.ts';
import { startDynamo, type TestDynamo } from '../support/dynamodb.ts';

const T0 = Date.parse('2026-11-23T06:00:00Z');
const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

function record(n: number, over: Partial<VerdictRecord> = {}): VerdictRecord {
  return {
    account: '111122223333',
    region: 'eu-west-1',
    repository: 'payments/api',
    digest: digest(n),
    verdict: 'admit',
    reasons: [],
    warnings: [],
    time: new Date(T0).toISOString(),
    policyVersions: { 's3://config/policies/acme/signed.yaml': 'v3' },
    policySetVersion: 'set-1',
    trigger: 'reverify',
    ...over,
  };
}

describe('VerdictStore (dynalite)', () => {
  let dynamo: TestDynamo;
  let table: string;
  before(async () => {
    dynamo = await startDynamo();
    table = await dynamo.table();
  });
  after(() => dynamo.stop());

  it('stores a verdict under verdict#account#region#repository / digest with a TTL, and reads it back', async () => {
    const store = new VerdictStore(dynamo.client, table, { now: () => T0, ttlDays: 30 });
    const r = record(1, { verdict: 'warn', warnings: ['sbom'], reasons: ['policy sbom (warn): no attestation'] });
    await store.put(r);
    // A first verdict starts its `since` at its own time.
    assert.deepEqual(await store.get(r), { ...r, since: r.time });
    const raw = await dynamo.client.send(
      new GetItemCommand({ TableName: table, Key: { pk: { S: 'verdict#111122223333#eu-west-1#payments/api' }, sk: { S: digest(1) } } }),
    );
    assert.equal(raw.Item?.expiresAt?.N, String(T0 / 1000 + 30 * 86_400));
    assert.equal(await store.get(record(2)), undefined);
  });

  it('reads many verdicts at once (more than one BatchGetItem) and keeps reasons bounded', async () => {
    const store = new VerdictStore(dynamo.client, table, { now: () => T0 });
    const many = Array.from({ length: 130 }, (_, i) =>
      record(1000 + i, { verdict: i % 2 ? 'deny' : 'admit', reasons: Array.from({ length: 30 }, (_, j) => `reason ${j}`) }),
    );
    await store.putMany(many);
    const found = await store.getMany([...many, record(5000)]);
    assert.equal(found.size, 130);
    const got = found.get(imageId(many[7]!))!;
    assert.equal(got.verdict, 'deny');
    assert.equal(got.reasons.length, MAX_REASONS);
    assert.equal(found.get(imageId(record(5000))), undefined);
  });
});

describe('RunLedger (dynalite)', () => {
  let dynamo: TestDynamo;
  let table: string;
  before(async () => {
    dynamo = await startDynamo();
    table = await dynamo.table();
  });
  after(() => dynamo.stop());

  const team = (changes: number, counts = { admit: 1, deny: 0, warn: 0, error: 0, unverified: 0, changed: changes }) => ({
    team: 'payments',
    topicArn: 'arn:aws:sns:eu-west-1:999999999999:payments',
    counts,
    changes: Array.from({ length: changes }, (_, i) => ({ image: `img${i}`, tags: ['v1'], from: 'admit', to: 'deny', reason: 'no signature' })),
    changesOmitted: 0,
  });

  it('counts each batch and target once, and is complete when every target is listed and every planned image verified', async () => {
    const ledger = new RunLedger(dynamo.client, table, { now: () => T0 });
    assert.equal(await ledger.start('run-a', 'reverify', 2), true);
    assert.equal(await ledger.start('run-a', 'reverify', 2), false, 'a retried start changes nothing');
    await ledger.planned('run-a', 'b1', 3);
    await ledger.planned('run-a', 'b1', 3);
    await ledger.planned('run-a', 'b2', 2);
    let s = await ledger.targetFinished('run-a', '111122223333/eu-west-1');
    assert.deepEqual([s.targetsDone, s.planned, s.complete], [1, 5, false]);
    s = await ledger.targetFinished('run-a', '444455556666/eu-west-1', 'access denied');
    assert.equal(s.targetsFailed, 1);
    s = await ledger.targetFinished('run-a', '444455556666/eu-west-1', 'access denied');
    assert.deepEqual([s.targetsDone, s.targetsFailed, s.failures], [1, 1, [{ target: '444455556666/eu-west-1', reason: 'access denied' }]]);
    s = await ledger.batchDone('run-a', 'b1', [team(1, { admit: 2, deny: 1, warn: 0, error: 0, unverified: 0, changed: 1 })]);
    assert.equal(s.done, 3);
    s = await ledger.batchDone('run-a', 'b1', [team(1, { admit: 2, deny: 1, warn: 0, error: 0, unverified: 0, changed: 1 })]);
    assert.deepEqual([s.done, s.complete], [3, false]);
    s = await ledger.batchDone('run-a', 'b2', [team(0, { admit: 2, deny: 0, warn: 0, error: 0, unverified: 0, changed: 0 })]);
    assert.deepEqual([s.done, s.planned, s.complete], [5, 5, true]);
    const [t] = await ledger.teams('run-a');
    assert.deepEqual(t!.counts, { admit: 4, deny: 1, warn: 0, error: 0, unverified: 0, changed: 1 });
    assert.equal(t!.changes.length, 1);
    assert.equal(await ledger.claimSummary('run-a'), true);
    assert.equal(await ledger.claimSummary('run-a'), false);
    await ledger.releaseSummary('run-a');
    assert.equal(await ledger.claimSummary('run-a'), true);
  });

  it(`lists at most ${MAX_CHANGES_LISTED} changed images per team and counts the rest`, async () => {
    const ledger = new RunLedger(dynamo.client, table, { now: () => T0 });
    await ledger.start('run-b', 'reverify', 1);
    for (let b = 0; b < 5; b++) await ledger.batchDone('run-b', `b${b}`, [team(50, { admit: 0, deny: 50, warn: 0, error: 0, unverified: 0, changed: 50 })]);
    const [t] = await ledger.teams('run-b');
    assert.equal(t!.counts.changed, 250);
    assert.equal(t!.changes.length, 200);
    assert.equal(t!.changesOmitted, 50);
  });
});
