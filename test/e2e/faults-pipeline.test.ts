/**
 * The pipeline fault matrix: the deployed on-push handler (the scenario of
 * test/support/on-push-scenario.ts) while an AWS dependency fails one way per
 * test. Each fault ends in a retried record, an error verdict or a delayed
 * message — never an admit it should not give, never a lost verdict — and
 * records its row of docs/reliability.md.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { recordFault } from '../support/faults.ts';
import { OnPushScenario, PAYMENTS, RETAIL } from '../support/on-push-scenario.ts';
import { assertNoSecrets } from '../support/secrets.ts';
import { testS3Client } from '../support/s3.ts';

const FILE = 'test/e2e/faults-pipeline.test.ts';

/** The part of an SDK client's middleware stack used here, common to every client. */
interface Stack {
  add(
    middleware: (next: (args: unknown) => Promise<unknown>) => (args: unknown) => Promise<unknown>,
    options: { step: 'initialize' | 'finalizeRequest'; name: string },
  ): void;
}

/** A switch that makes every request of a fresh client fail as a network error would, before it leaves. */
function breakable<C extends S3Client | SNSClient | DynamoDBClient>(client: C): { client: C; broken: { on: boolean } } {
  const broken = { on: false };
  (client.middlewareStack as unknown as Stack).add(
    (next) => async (args) => {
      if (broken.on) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1'), { name: 'TimeoutError', code: 'ECONNREFUSED', $metadata: {} });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'faultInjection' },
  );
  return { client, broken };
}

/** An SNS client of its own on the scenario's fauxqs, so a fault added to it stays in its test. */
function freshSns(sc: OnPushScenario): SNSClient {
  return new SNSClient({
    endpoint: sc.servers.fx.endpoint,
    region: sc.servers.fx.region,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
}

describe('pipeline fault matrix', () => {
  let sc: OnPushScenario;
  before(async () => {
    sc = await OnPushScenario.start();
  });
  beforeEach(() => sc.reset());
  after(() => sc?.stop());

  const revokedEvent = () => sc.event('during', PAYMENTS, { 'image-digest': sc.images.revoked!.digest, 'image-tag': 'v2' });
  const signedEvent = (id: string, account = PAYMENTS, tag = 'v1') => sc.event(id, account, { 'image-digest': sc.images.signed!.digest, 'image-tag': tag });

  it('STS throttling: the record is retried, then published once when STS answers', async () => {
    let calls = 0;
    sc.sts.on(AssumeRoleCommand).callsFake((input: { RoleArn: string }) => {
      if (++calls === 1) throw Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $metadata: { httpStatusCode: 400 } });
      return sc.assumeRoleAnswer(input);
    });
    const h = sc.handler();
    const first = await h(sc.batch({ id: 'r', body: signedEvent('throttled') }));
    assert.deepEqual(first.batchItemFailures, [{ itemIdentifier: 'r' }]);
    assert.equal((await sc.received('payments')).length, 0);
    const again = await h(sc.batch({ id: 'r', body: signedEvent('throttled') }));
    assert.deepEqual(again.batchItemFailures, []);
    assert.deepEqual(
      (await sc.received('payments')).map((n) => n.verdict),
      ['admit'],
    );
    recordFault({
      component: 'sts',
      fault: 'AssumeRole throttled',
      outcome: 'record retried; admit published once STS answered',
      admitted: false,
      lost: false,
      test: `${FILE}: STS throttling`,
    });
  });

  it('STS throttling on the last receive: an AWS_UNAVAILABLE error to the operators, never CONFIG, never an admit', async () => {
    sc.sts.on(AssumeRoleCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $metadata: { httpStatusCode: 400 } }));
    const h = sc.handler();
    const early = await h(sc.batch({ id: 't', receiveCount: 1, body: signedEvent('throttled-long') }));
    assert.deepEqual(early.batchItemFailures, [{ itemIdentifier: 't' }]);
    const last = await h(sc.batch({ id: 't', receiveCount: 3, body: signedEvent('throttled-long') }));
    assert.deepEqual(last.batchItemFailures, []);
    const operators = await sc.received('operators');
    assert.deepEqual(
      operators.map((n) => [n.verdict, n.error?.code]),
      [['error', 'AWS_UNAVAILABLE']],
    );
    assert.match(operators[0]!.error!.message, /STS is throttling requests; retry later \(Throttling, HTTP 400\)/);
    assert.equal((await sc.received('payments')).length, 0);
    recordFault({
      component: 'sts',
      fault: 'AssumeRole throttled through the last receive',
      outcome: 'record retried, then an AWS_UNAVAILABLE error to the operators',
      admitted: false,
      lost: false,
      test: `${FILE}: STS throttling on the last receive`,
    });
  });

  it('STS AccessDenied: an error verdict to the team and the operators, no admit', async () => {
    sc.sts
      .on(AssumeRoleCommand)
      .rejects(Object.assign(new Error('not authorized to perform sts:AssumeRole'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }));
    const res = await sc.handler()(sc.batch({ id: 'a', body: signedEvent('denied', RETAIL) }));
    assert.deepEqual(res.batchItemFailures, []);
    const messages = [...(await sc.received('retail')), ...(await sc.received('operators'))];
    assert.deepEqual(
      messages.map((n) => n.verdict),
      ['error', 'error'],
    );
    for (const n of messages) assertNoSecrets(JSON.stringify(n), 'SNS message');
    recordFault({
      component: 'sts',
      fault: 'AssumeRole AccessDenied',
      outcome: 'error verdict to the team and the operators',
      admitted: false,
      lost: false,
      test: `${FILE}: STS AccessDenied`,
    });
  });

  it('S3 failing mid-run: the batch is retried, nothing published, then judged when S3 is back', async () => {
    const { client: s3, broken } = breakable(testS3Client(sc.servers.s3.endpoint, { maxAttempts: 1 }));
    const h = sc.handler({ clients: { s3 } });
    assert.deepEqual((await h(sc.batch({ id: 'ok', body: signedEvent('before', PAYMENTS, 'v1') }))).batchItemFailures, []);
    broken.on = true;
    const during = await h(sc.batch({ id: 'x', body: revokedEvent() }, { id: 'y', body: signedEvent('during-retail', RETAIL, 'v2') }));
    assert.deepEqual(during.batchItemFailures.map((f) => f.itemIdentifier).sort(), ['x', 'y']);
    assert.ok(sc.logs.some((l) => l.includes('configuration unavailable')));
    assert.equal((await sc.received('payments')).length, 1, 'only the verdict from before the fault');
    broken.on = false;
    const after = await h(sc.batch({ id: 'x', body: revokedEvent() }, { id: 'y', body: signedEvent('during-retail', RETAIL, 'v2') }));
    assert.deepEqual(after.batchItemFailures, []);
    assert.deepEqual(
      (await sc.received('payments')).map((n) => [n.tags[0], n.verdict]),
      [['v2', 'admit']],
    );
    assert.deepEqual(
      (await sc.received('retail')).map((n) => n.verdict),
      ['admit'],
    );
    recordFault({
      component: 's3',
      fault: 'config and policy reads fail mid-run',
      outcome: 'whole batch retried; verdicts published once S3 answered',
      admitted: false,
      lost: false,
      test: `${FILE}: S3 failing mid-run`,
    });
  });

  it('SNS unreachable: the record is retried and the idempotency claim released, then published once', async () => {
    const { client: sns, broken } = breakable(freshSns(sc));
    broken.on = true;
    try {
      const h = sc.handler({ clients: { sns } });
      const failed = await h(sc.batch({ id: 'p', body: signedEvent('sns-down') }));
      assert.deepEqual(failed.batchItemFailures, [{ itemIdentifier: 'p' }]);
      broken.on = false;
      const ok = await h(sc.batch({ id: 'p', body: signedEvent('sns-down') }));
      assert.deepEqual(ok.batchItemFailures, []);
      assert.equal((await sc.received('payments')).length, 1);
    } finally {
      broken.on = false;
    }
    recordFault({
      component: 'sns',
      fault: 'Publish unreachable',
      outcome: 'record retried (claim released); published once SNS answered',
      admitted: false,
      lost: false,
      test: `${FILE}: SNS unreachable`,
    });
  });

  it('DynamoDB unreachable: nothing is published without a claim; the record is retried', async () => {
    const { client: dynamo, broken } = breakable(
      new DynamoDBClient({
        endpoint: sc.servers.dynamo.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        maxAttempts: 1,
      }),
    );
    broken.on = true;
    try {
      const h = sc.handler({ clients: { dynamo } });
      const failed = await h(sc.batch({ id: 'd', body: signedEvent('dynamo-down') }));
      assert.deepEqual(failed.batchItemFailures, [{ itemIdentifier: 'd' }]);
      assert.equal((await sc.received('payments')).length, 0);
      broken.on = false;
      assert.deepEqual((await h(sc.batch({ id: 'd', body: signedEvent('dynamo-down') }))).batchItemFailures, []);
      assert.equal((await sc.received('payments')).length, 1);
    } finally {
      broken.on = false;
    }
    recordFault({
      component: 'dynamodb',
      fault: 'table unreachable',
      outcome: 'record retried, nothing published without a claim; published once after',
      admitted: false,
      lost: false,
      test: `${FILE}: DynamoDB unreachable`,
    });
  });

  it('two Lambdas racing on one event: the conditional write lets one publish; the other is retried and finds it done', async () => {
    const e = signedEvent('race');
    const [a, b] = await Promise.all([sc.handler()(sc.batch({ id: 'a', body: e })), sc.handler()(sc.batch({ id: 'b', body: e }))]);
    const failed = [...a.batchItemFailures, ...b.batchItemFailures].map((f) => f.itemIdentifier);
    assert.ok(failed.length <= 1);
    for (const id of failed) assert.deepEqual((await sc.handler()(sc.batch({ id, body: e }))).batchItemFailures, []);
    assert.equal((await sc.received('payments')).length, 1);
    recordFault({
      component: 'dynamodb',
      fault: 'conditional-check race (same event, two Lambdas)',
      outcome: 'one publish; the loser retried and found it done',
      admitted: false,
      lost: false,
      test: `${FILE}: racing Lambdas`,
    });
  });

  it('a Lambda that times out between claim and publish: the redelivered record waits for the claim to expire, then publishes', async () => {
    const e = signedEvent('timeout');
    // The first invocation hangs in SNS (its Lambda is killed at its timeout): the claim stays in progress.
    const { client: sns, broken } = breakable(freshSns(sc));
    let release: () => void = () => {};
    const hanging = new Promise<void>((resolve) => (release = resolve));
    let reached: () => void = () => {};
    const publishing = new Promise<void>((resolve) => (reached = resolve));
    (sns.middlewareStack as unknown as Stack).add(
      (next) => async (args) => {
        if (broken.on) {
          reached();
          await hanging;
        }
        return next(args);
      },
      { step: 'initialize', name: 'hang' },
    );
    broken.on = true;
    const zombie = sc.handler({ clients: { sns } })(sc.batch({ id: 'z', body: e }));
    // Publishing comes after the claim: from here the claim is in progress, however loaded the machine.
    await publishing;
    // SQS redelivers after the visibility timeout: the claim is still in progress.
    sc.now += 60_000;
    const early = await sc.handler()(sc.batch({ id: 'z', body: e }));
    assert.deepEqual(early.batchItemFailures, [{ itemIdentifier: 'z' }]);
    // After the claim's 2 minutes, the next delivery takes it over.
    sc.now += 90_000;
    assert.deepEqual((await sc.handler()(sc.batch({ id: 'z', body: e }))).batchItemFailures, []);
    assert.equal((await sc.received('payments')).length, 1);
    // The killed invocation never resumes in Lambda; here it is let go with SNS failing, so it publishes nothing.
    broken.on = false;
    sns.middlewareStack.remove('hang');
    release();
    await zombie.catch(() => {});
    recordFault({
      component: 'lambda',
      fault: 'timeout between claim and publish',
      outcome: 'redelivery waits for the claim to expire, then publishes once',
      admitted: false,
      lost: false,
      test: `${FILE}: Lambda timeout`,
    });
  });
});
