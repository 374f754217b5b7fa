/**
 * The on-push Lambda end to end: the real handler (functions/on-push/handler.ts)
 * assembled as deployed (src/pipeline/assemble.ts); see the scenario in
 * test/support/on-push-scenario.ts for what is real and what is mocked.
 */
import { testNow } from '../support/clock.ts';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { VerdictStore } from '../../src/store/verdicts.ts';
import { deleteManifest, signatureTag, signImageWithKey, type BuiltManifest, type TestRegistry } from '../support/index.ts';
import {
  ECR_PASSWORD,
  ecrHost,
  EVENT_TIME,
  EXTERNAL_ID,
  GRACE_SECONDS,
  KMS_KEY_ARN,
  kmsKey,
  OnPushScenario,
  PAYMENTS,
  REGION,
  releaseKey,
  RETAIL,
  STRANGER,
} from '../support/on-push-scenario.ts';

describe('on-push handler: ECR event → association → STS → verdict → SNS', () => {
  let sc: OnPushScenario;
  before(async () => {
    sc = await OnPushScenario.start();
  });
  beforeEach(() => sc.reset());
  after(() => sc?.stop());

  it('admits a signed image and tells its team, through the assumed role and the ECR token', async () => {
    const res = await sc.handler()(sc.batch({ id: 'm1', body: sc.event('signed', PAYMENTS, { 'image-digest': sc.images.signed!.digest, 'image-tag': 'v1' }) }));
    assert.deepEqual(res.batchItemFailures, []);
    const [n, ...more] = await sc.received('payments');
    assert.equal(more.length, 0);
    assert.equal(n!.verdict, 'admit');
    assert.equal(n!.team, 'payments');
    assert.equal(n!.account, PAYMENTS);
    assert.equal(n!.image, `${ecrHost(PAYMENTS)}/team/app@${sc.images.signed!.digest}`);
    assert.deepEqual(n!.tags, ['v1']);
    assert.equal(n!.trigger, 'push');
    assert.equal(n!.eventId, 'evt-signed');
    assert.deepEqual((await sc.received('paymentsDenies')).length, 0, 'the denies-only subscription gets no admit');
    // Kept for re-verification, which then reports only changes.
    const record = await new VerdictStore(sc.servers.dynamo.client, sc.table, { now: testNow }).get({
      account: PAYMENTS,
      region: REGION,
      repository: 'team/app',
      digest: sc.images.signed!.digest,
    });
    assert.equal(record?.verdict, 'admit');
    assert.equal(record?.trigger, 'push');

    const calls = sc.sts.commandCalls(AssumeRoleCommand);
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.args[0].input, {
      RoleArn: `arn:aws:iam::${PAYMENTS}:role/sigwatch-member`,
      RoleSessionName: `sigwatch-team.app-${sc.images.signed!.digest.slice(7, 19)}`,
      DurationSeconds: 1800,
      SourceIdentity: 'sigwatch',
      ExternalId: EXTERNAL_ID,
    });
    const token = sc.ecr.commandCalls(GetAuthorizationTokenCommand);
    assert.equal(token.length, 1);
    assert.deepEqual(token[0]!.args[0].input, { registryIds: [PAYMENTS] });
    // The ECR client carried the member account's session, not sigwatch's own credentials.
    const creds = await (token[0]!.thisValue as ECRClient).config.credentials();
    assert.equal(creds.accessKeyId, `ASIA${PAYMENTS}`);
    assert.equal(creds.sessionToken, 'member-session-token');
    for (const line of sc.logs) {
      for (const secret of [ECR_PASSWORD, EXTERNAL_ID, 'member-secret', 'member-session-token'])
        assert.ok(!line.includes(secret), `log line leaks a secret: ${line}`);
    }
  });

  it("applies a group's policies to its descendants only: acme's to both teams, payments' not to retail", async () => {
    const h = sc.handler();
    const res = await h(
      sc.batch(
        {
          id: 'p',
          body: sc.event('pay-blocked', PAYMENTS, { 'repository-name': 'team/blocked', 'image-digest': sc.images.blocked!.digest, 'image-tag': 'v1' }),
        },
        {
          id: 'r',
          body: sc.event('retail-blocked', RETAIL, { 'repository-name': 'team/blocked', 'image-digest': sc.images.blocked!.digest, 'image-tag': 'v1' }),
        },
        { id: 'u', body: sc.event('retail-unsigned', RETAIL, { 'image-digest': sc.images.unsigned!.digest, 'image-tag': 'v2' }) },
      ),
    );
    assert.deepEqual(res.batchItemFailures, []);
    const payments = await sc.received('payments');
    assert.deepEqual(
      payments.map((n) => [n.repository, n.verdict]),
      [['team/blocked', 'deny']],
    );
    assert.deepEqual(payments[0]!.policies.map((p) => [p.name, p.verdict]).sort(), [
      ['no-blocked', 'fail'],
      ['require-release-key', 'pass'],
    ]);
    const retail = (await sc.received('retail')).sort((a, b) => a.repository.localeCompare(b.repository));
    assert.deepEqual(
      retail.map((n) => [n.repository, n.verdict, n.team]),
      [
        ['team/app', 'deny', 'retail'],
        ['team/blocked', 'admit', 'retail'],
      ],
    );
    assert.deepEqual(
      retail[1]!.policies.map((p) => p.name),
      ['require-release-key'],
    );
    // One session per account, whatever the number of sc.images.
    assert.deepEqual(
      sc.sts
        .commandCalls(AssumeRoleCommand)
        .map((c) => c.args[0].input.RoleArn)
        .sort(),
      [`arn:aws:iam::${PAYMENTS}:role/sigwatch-member`, `arn:aws:iam::${RETAIL}:role/sigwatch-member`],
    );
  });

  it('waits for a late signature: unsigned then signed within the grace period gives one admit and no deny', async () => {
    const h = sc.handler();
    sc.now = EVENT_TIME + (GRACE_SECONDS - 1) * 1000;
    const first = await h(sc.batch({ id: 'img', body: sc.event('late', PAYMENTS, { 'image-digest': sc.images.late!.digest, 'image-tag': 'v1' }) }));
    assert.deepEqual(first.batchItemFailures, []);
    assert.equal((await sc.received('payments')).length, 0, 'no deny inside the grace period');
    // cosign pushes the signature: its event re-verifies the subject.
    await signImageWithKey(sc.servers.reg, 'team/app', sc.images.late!, releaseKey.privateKey);
    await h(
      sc.batch({
        id: 'sig',
        body: sc.event('late-sig', PAYMENTS, { 'image-digest': `sha256:${'5'.repeat(64)}`, 'image-tag': signatureTag(sc.images.late!.digest) }),
      }),
    );
    const admitted = await sc.received('payments');
    assert.deepEqual(
      admitted.map((n) => [n.digest, n.verdict]),
      [[sc.images.late!.digest, 'admit']],
    );
    // The re-check scheduled by the first event arrives after its delay: same verdict, not published again.
    await new Promise((r) => setTimeout(r, 1100));
    const rechecks = await sc.drain(sc.servers.pushQueue.url);
    assert.equal(rechecks.length, 1);
    sc.now = EVENT_TIME + (GRACE_SECONDS + 5) * 1000;
    const again = await h(sc.batch({ id: 'recheck', body: rechecks[0]!.Body! }));
    assert.deepEqual(again.batchItemFailures, []);
    assert.equal((await sc.received('payments')).length, 0);
  });

  it('publishes one deny for an image still unsigned when the grace period ends', async () => {
    const h = sc.handler({ grace: 2 });
    sc.now = EVENT_TIME + 1000;
    await h(sc.batch({ id: 'img', body: sc.event('never', PAYMENTS, { 'image-digest': sc.images.unsigned!.digest, 'image-tag': 'v3' }) }));
    assert.equal((await sc.received('payments')).length, 0);
    await new Promise((r) => setTimeout(r, 1100));
    const [recheck, ...others] = await sc.drain(sc.servers.pushQueue.url);
    assert.equal(others.length, 0);
    const body = JSON.parse(recheck!.Body!) as { sigwatch: string; attempt: number; firstSeen: string };
    assert.deepEqual([body.sigwatch, body.attempt, body.firstSeen], ['recheck', 1, '2026-11-23T10:00:00Z']);
    sc.now = EVENT_TIME + 3000;
    await h(sc.batch({ id: 'recheck', body: recheck!.Body! }));
    const denies = await sc.received('payments');
    assert.deepEqual(
      denies.map((n) => [n.digest, n.verdict]),
      [[sc.images.unsigned!.digest, 'deny']],
    );
    assert.match(denies[0]!.reasons.join(' '), /signature/i);
    assert.deepEqual(
      (await sc.received('paymentsDenies')).map((n) => n.verdict),
      ['deny'],
    );
    assert.equal((await sc.drain(sc.servers.pushQueue.url)).length, 0, 'no further re-check after the final deny');
  });

  it('re-verifies the image when its signature is deleted', async () => {
    const h = sc.handler();
    await h(sc.batch({ id: 'a', body: sc.event('revoked-push', PAYMENTS, { 'image-digest': sc.images.revoked!.digest, 'image-tag': 'v1' }) }));
    assert.deepEqual(
      (await sc.received('payments')).map((n) => n.verdict),
      ['admit'],
    );
    await deleteManifest(sc.servers.reg, 'team/app', await signatureDigest(sc.servers.reg, sc.images.revoked!));
    await h(
      sc.batch({
        id: 'd',
        body: sc.event('revoked-sig-deleted', PAYMENTS, {
          'action-type': 'DELETE',
          'image-digest': `sha256:${'6'.repeat(64)}`,
          'image-tag': signatureTag(sc.images.revoked!.digest),
        }),
      }),
    );
    assert.deepEqual(
      (await sc.received('payments')).map((n) => [n.digest, n.verdict]),
      [[sc.images.revoked!.digest, 'deny']],
    );
  });

  it('gives no verdict when a deleted signature went with its image', async () => {
    const gone = sc.images.gone!;
    await deleteManifest(sc.servers.reg, 'team/app', await signatureDigest(sc.servers.reg, gone));
    await deleteManifest(sc.servers.reg, 'team/app', gone.digest);
    const res = await sc.handler()(
      sc.batch({
        id: 'd',
        body: sc.event('gone-sig-deleted', PAYMENTS, {
          'action-type': 'DELETE',
          'image-digest': `sha256:${'7'.repeat(64)}`,
          'image-tag': signatureTag(gone.digest),
        }),
      }),
    );
    assert.deepEqual(res.batchItemFailures, []);
    assert.equal((await sc.received('payments')).length, 0);
    assert.ok(sc.logs.some((l) => l.includes('subject image is gone too')));
  });

  it('gives a multi-arch push (two platform manifests, then the index) one verdict, for the index', async () => {
    const index = sc.images.index!;
    const children = index.children!;
    const res = await sc.handler()(
      sc.batch(
        ...children.map((c, i) => ({ id: `c${i}`, body: sc.event(`child-${i}`, PAYMENTS, { 'image-digest': c.digest, 'manifest-media-type': c.mediaType }) })),
        { id: 'idx', body: sc.event('index', PAYMENTS, { 'image-digest': index.digest, 'image-tag': 'v1', 'manifest-media-type': index.mediaType }) },
      ),
    );
    assert.deepEqual(res.batchItemFailures, []);
    assert.deepEqual(
      (await sc.received('payments')).map((n) => [n.digest, n.verdict]),
      [[index.digest, 'admit']],
    );
  });

  it("reads a KMS key of the member account through that account's role", async () => {
    const kms = mockClient(KMSClient);
    try {
      const der = createPublicKey(kmsKey.publicKeyPem).export({ type: 'spki', format: 'der' });
      kms.on(GetPublicKeyCommand).resolves({ KeyId: KMS_KEY_ARN, PublicKey: new Uint8Array(der), KeySpec: 'ECC_NIST_P256' });
      const res = await sc.handler()(
        sc.batch({ id: 'k', body: sc.event('kms', PAYMENTS, { 'repository-name': 'team/kms', 'image-digest': sc.images.kms!.digest, 'image-tag': 'v1' }) }),
      );
      assert.deepEqual(res.batchItemFailures, []);
      const [n] = await sc.received('payments');
      // acme's release key does not sign this image, so the verdict is deny; the KMS authority itself passed.
      const kmsPolicy = n!.policies.find((p) => p.name === 'kms-signed');
      assert.equal(kmsPolicy?.verdict, 'pass', JSON.stringify(n));
      const calls = kms.commandCalls(GetPublicKeyCommand);
      assert.equal(calls.length, 1);
      assert.deepEqual(calls[0]!.args[0].input, { KeyId: KMS_KEY_ARN });
      const client = calls[0]!.thisValue as KMSClient;
      assert.equal(await client.config.region(), 'eu-west-1');
      const creds = await client.config.credentials();
      assert.equal(creds.accessKeyId, `ASIA${PAYMENTS}`);
    } finally {
      kms.restore();
    }
  });

  it('publishes a duplicated event once', async () => {
    const h = sc.handler();
    const e = sc.event('dup', PAYMENTS, { 'image-digest': sc.images.signed!.digest, 'image-tag': 'v1' });
    await h(sc.batch({ id: 'x1', body: e }, { id: 'x2', body: e }));
    await h(sc.batch({ id: 'x3', body: e }));
    assert.equal((await sc.received('payments')).length, 1);
  });

  it('reports an image of an account no association covers to the operators, without assuming any role', async () => {
    const res = await sc.handler()(
      sc.batch({ id: 's', body: sc.event('stranger', STRANGER, { 'image-digest': sc.images.signed!.digest, 'image-tag': 'v1' }) }),
    );
    assert.deepEqual(res.batchItemFailures, []);
    const [n, ...more] = await sc.received('operators');
    assert.equal(more.length, 0);
    assert.equal(n!.verdict, 'error');
    assert.equal(n!.account, STRANGER);
    assert.match(n!.reasons[0]!, new RegExp(`account ${STRANGER} is not associated`));
    assert.equal(sc.sts.commandCalls(AssumeRoleCommand).length, 0);
    assert.equal(sc.ecr.commandCalls(GetAuthorizationTokenCommand).length, 0);
  });

  it('reports a role that refuses sigwatch to the team and the operators as an error verdict', async () => {
    sc.sts
      .on(AssumeRoleCommand)
      .rejects(Object.assign(new Error('not authorized to perform sts:AssumeRole'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }));
    const res = await sc.handler()(sc.batch({ id: 'a', body: sc.event('denied', RETAIL, { 'image-digest': sc.images.signed!.digest, 'image-tag': 'v1' }) }));
    assert.deepEqual(res.batchItemFailures, []);
    const [team] = await sc.received('retail');
    const [ops] = await sc.received('operators');
    for (const n of [team, ops]) {
      assert.equal(n!.verdict, 'error');
      assert.match(n!.reasons[0]!, new RegExp(`account ${RETAIL}: cannot assume arn:aws:iam::${RETAIL}:role/sigwatch-member`));
      assert.ok(!JSON.stringify(n).includes(EXTERNAL_ID));
    }
  });

  it('reports verification code that cannot be loaded as an error verdict with its code, and loads it again for the next record', async () => {
    let loads = 0;
    const handler = sc.handler({
      loadVerification: () => {
        loads++;
        return Promise.reject(new Error("Cannot find module '/var/task/functions/on-push/index.chunks/verification-XXXX.mjs'"));
      },
    });
    for (const id of ['first', 'second']) {
      const res = await handler(sc.batch({ id, body: sc.event(id, PAYMENTS, { 'image-digest': sc.images.signed!.digest, 'image-tag': 'v1' }) }));
      // Reported, not retried: the function's own code will not load on a retry either.
      assert.deepEqual(res.batchItemFailures, []);
    }
    const team = await sc.received('payments');
    const ops = await sc.received('operators');
    // Both records were judged: the second one's import was tried again (a failed one is not kept); idempotency publishes each verdict once.
    assert.equal(loads, 2);
    assert.equal(team.length, 1);
    assert.equal(ops.length, 1);
    for (const n of [team[0], ops[0]]) {
      assert.equal(n!.verdict, 'error');
      assert.equal(n!.error?.code, 'INTERNAL');
      assert.match(n!.reasons[0]!, /^cannot load the verification code: Cannot find module '.*verification-XXXX\.mjs'$/);
    }
    assert.ok(sc.logs.some((l) => l.includes('"no verdict reached"') && l.includes('"code":"INTERNAL"')));
  });

  it('fails only the malformed record of a batch, and it alone goes back to the queue', async () => {
    const res = await sc.handler()(
      sc.batch(
        { id: 'good', body: sc.event('good', PAYMENTS, { 'image-digest': sc.images.signed!.digest, 'image-tag': 'v1' }) },
        { id: 'bad', body: '{"source": "aws.ecr", "detail-type": "ECR Image Action"' },
        { id: 'worse', body: sc.event('worse', PAYMENTS, { 'image-digest': 'sha256:nothex' }) },
      ),
    );
    assert.deepEqual(res.batchItemFailures.map((f) => f.itemIdentifier).sort(), ['bad', 'worse']);
    assert.deepEqual(
      (await sc.received('payments')).map((n) => n.verdict),
      ['admit'],
    );
    assert.ok(sc.logs.some((l) => l.includes('"event rejected"') && l.includes('detail.image-digest')));
  });

  it('retries a verdict whose publish failed, and publishes it once SNS recovers', async () => {
    // The payments topic is gone: the publish fails, the record is retried, the claim released.
    const { DeleteTopicCommand } = await import('@aws-sdk/client-sns');
    await sc.servers.fx.sns.send(new DeleteTopicCommand({ TopicArn: sc.servers.topics.payments }));
    const h = sc.handler();
    const e = sc.event('sns-down', PAYMENTS, { 'image-digest': sc.images.signed!.digest, 'image-tag': 'v9' });
    const failed = await h(sc.batch({ id: 'r1', body: e }));
    assert.deepEqual(failed.batchItemFailures, [{ itemIdentifier: 'r1' }]);
    assert.ok(sc.logs.some((l) => l.includes('record failed, will be retried')));
    // SNS is back (the same topic ARN): the redelivered record is published.
    await sc.servers.fx.sns.send(new CreateTopicCommand({ Name: 'sigwatch-payments' }));
    await sc.servers.fx.sns.send(
      new SubscribeCommand({
        TopicArn: sc.servers.topics.payments,
        Protocol: 'sqs',
        Endpoint: sc.servers.inbox.payments.arn,
        Attributes: { RawMessageDelivery: 'true' },
      }),
    );
    const ok = await h(sc.batch({ id: 'r1', body: e }));
    assert.deepEqual(ok.batchItemFailures, []);
    assert.deepEqual(
      (await sc.received('payments')).map((n) => [n.verdict, n.tags[0]]),
      [['admit', 'v9']],
    );
  });

  it('reuses an account session until 5 minutes before it expires, then assumes the role again', async () => {
    const h = sc.handler();
    const e = (id: string, tag: string) => sc.event(id, PAYMENTS, { 'image-digest': sc.images.signed!.digest, 'image-tag': tag });
    await h(sc.batch({ id: '1', body: e('s1', 't1') }));
    sc.now += 20 * 60_000;
    await h(sc.batch({ id: '2', body: e('s2', 't2') }));
    assert.equal(sc.sts.commandCalls(AssumeRoleCommand).length, 1);
    sc.now += 6 * 60_000; // 26 minutes into a 30-minute session
    await h(sc.batch({ id: '3', body: e('s3', 't3') }));
    assert.equal(sc.sts.commandCalls(AssumeRoleCommand).length, 2);
  });
});

/** The digest of an image's `.sig` manifest, read from the registry. */
async function signatureDigest(reg: TestRegistry, image: BuiltManifest): Promise<string> {
  const res = await fetch(`http://${reg.host}/v2/team/app/manifests/${signatureTag(image.digest)}`, {
    method: 'HEAD',
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json', authorization: `Basic ${Buffer.from(`AWS:${ECR_PASSWORD}`).toString('base64')}` },
  });
  const digest = res.headers.get('docker-content-digest');
  if (!digest) throw new Error(`no digest for the signature of ${image.digest}: HTTP ${res.status}`);
  return digest;
}
