/**
 * The on-push Lambda end to end: the real handler (functions/on-push/handler.ts)
 * assembled as deployed (src/pipeline/assemble.ts), with SNS and SQS over their
 * real protocols (fauxqs), DynamoDB (dynalite), S3 (s3rver), a real
 * docker-registry standing in for ECR with the password that the mocked
 * GetAuthorizationToken hands out, and STS, ECR's API and Secrets Manager mocked
 * with the exact requests asserted.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { createPublicKey } from 'node:crypto';
import type { SQSEvent } from 'aws-lambda';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { onPushHandler } from '../functions/on-push/handler.ts';
import type { Notification } from '../src/notify/notification.ts';
import { assembleOnPush, type AwsClients } from '../src/pipeline/assemble.ts';
import { readEnvironment } from '../src/pipeline/environment.ts';
import { RegistryClient } from '../src/registry/client.ts';
import { VerdictStore } from '../src/store/verdicts.ts';
import { testS3Client } from './helpers/s3.ts';
import {
  buildImage,
  buildIndex,
  deleteManifest,
  generateKeyPair,
  keyPolicyYaml,
  pushManifest,
  signatureTag,
  signImageWithKey,
  startRegistry,
  staticPolicyYaml,
  type BuiltManifest,
  type TestRegistry,
} from './harness/index.ts';
import { startDynamo, type TestDynamo } from './helpers/dynamodb.ts';
import { ecrImageAction } from './helpers/events.ts';
import { startTestFauxqs, type TestFauxqs } from './helpers/fauxqs.ts';
import { startS3, type TestS3 } from './helpers/s3.ts';

const PAYMENTS = '111122223333';
const RETAIL = '444455556666';
const STRANGER = '777788889999';
const REGION = 'eu-west-1';
const BUCKET = 'sigwatch-config';
const EXTERNAL_ID_SECRET = 'arn:aws:secretsmanager:eu-west-1:999999999999:secret:sigwatch/external-id-AbCdEf';
const EXTERNAL_ID = 'ext-id-4f1d9c2b7a';
const ECR_PASSWORD = 'ecr-password-7d41be';
const EVENT_TIME = Date.parse('2026-11-23T10:00:00Z');
const GRACE_SECONDS = 600;
const key = generateKeyPair();
const kmsKey = generateKeyPair();
const KMS_KEY_ARN = `arn:aws:kms:eu-west-1:${PAYMENTS}:key/0b6a4d0e-2c8f-4c11-9d3e-7a1b2c3d4e5f`;

const ecrHost = (account: string) => `${account}.dkr.ecr.${REGION}.amazonaws.com`;

function configYaml(topics: { operators: string; acme: string; payments: string; retail: string }): string {
  return `defaults:
  roleName: sigwatch-member
  sessionDurationSeconds: "1800"
operators:
  topicArn: ${topics.operators}
groups:
  acme:
    team: platform
    topicArn: ${topics.acme}
  acme/payments:
    team: payments
    topicArn: ${topics.payments}
  acme/retail:
    team: retail
    topicArn: ${topics.retail}
associations:
  - group: acme/payments
    externalId:
      secretArn: ${EXTERNAL_ID_SECRET}
    accounts:
      - id: "${PAYMENTS}"
        regions: [${REGION}]
  - group: acme/retail
    externalId:
      secretArn: ${EXTERNAL_ID_SECRET}
    accounts:
      - id: "${RETAIL}"
        regions: [${REGION}]
`;
}

interface Scenario {
  reg: TestRegistry;
  s3: TestS3;
  fx: TestFauxqs;
  dynamo: TestDynamo;
  pushQueue: { url: string; arn: string };
  /** What each team's subscription received (filtered as the team asked). */
  inbox: Record<'operators' | 'payments' | 'paymentsDenies' | 'retail', { url: string; arn: string }>;
  topics: { operators: string; acme: string; payments: string; retail: string };
}

describe('on-push handler: ECR event → association → STS → verdict → SNS', () => {
  let sc: Scenario;
  let sts: AwsClientStub<STSClient>;
  let ecr: AwsClientStub<ECRClient>;
  let secrets: AwsClientStub<SecretsManagerClient>;
  let now: number;
  let logs: string[];
  let table: string;
  const images: Record<string, BuiltManifest> = {};

  const handler = (opts: { grace?: number } = {}) => {
    const env = readEnvironment({
      SIGWATCH_CONFIG_BUCKET: BUCKET,
      SIGWATCH_TABLE: table,
      SIGWATCH_PUSH_QUEUE_URL: `https://sqs.${REGION}.amazonaws.com/000000000000/sigwatch-push`,
      SIGWATCH_GRACE_SECONDS: String(opts.grace ?? GRACE_SECONDS),
    });
    const clients: AwsClients = {
      s3: testS3Client(sc.s3.endpoint),
      sns: sc.fx.sns,
      sqs: sc.fx.sqs,
      dynamo: sc.dynamo.client,
      sts: new STSClient({ region: REGION, credentials: { accessKeyId: 'central', secretAccessKey: 'central' } }),
      secrets: new SecretsManagerClient({ region: REGION, credentials: { accessKeyId: 'central', secretAccessKey: 'central' } }),
      ecr: (region, credentials) => new ECRClient({ region, credentials }),
      kms: (region, credentials) => new KMSClient({ region, credentials }),
    };
    const deps = assembleOnPush({ ...env, pushQueueUrl: sc.pushQueue.url }, clients, {
      endpoint: () => sc.reg.host,
      registry: new RegistryClient({ insecureHosts: [sc.reg.host] }),
      write: (line) => void logs.push(line),
      now: () => now,
    });
    return onPushHandler(deps);
  };

  const event = (id: string, account: string, detail: Record<string, string>) => ({
    ...ecrImageAction(id, detail),
    account,
    time: new Date(EVENT_TIME).toISOString().replace('.000Z', 'Z'),
  });
  const batch = (...records: { id: string; body: unknown }[]): SQSEvent =>
    ({
      Records: records.map((r) => ({
        messageId: r.id,
        body: typeof r.body === 'string' ? r.body : JSON.stringify(r.body),
        attributes: { ApproximateReceiveCount: '1' },
        eventSource: 'aws:sqs',
      })),
    }) as unknown as SQSEvent;

  async function drain(url: string): Promise<Message[]> {
    const all: Message[] = [];
    for (;;) {
      const { Messages = [] } = await sc.fx.sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageAttributeNames: ['All'] }));
      if (Messages.length === 0) return all;
      all.push(...Messages);
    }
  }
  const received = async (inbox: keyof Scenario['inbox']): Promise<Notification[]> =>
    (await drain(sc.inbox[inbox].url)).map((m) => JSON.parse(m.Body!) as Notification);

  before(async () => {
    const [reg, s3, fx, dynamo] = await Promise.all([
      startRegistry({ auth: { username: 'AWS', password: ECR_PASSWORD } }),
      startS3(),
      startTestFauxqs(),
      startDynamo(),
    ]);
    const queue = async (name: string) => {
      const { QueueUrl } = await fx.sqs.send(new CreateQueueCommand({ QueueName: name }));
      const { Attributes } = await fx.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
      return { url: QueueUrl!, arn: Attributes!.QueueArn! };
    };
    const topic = async (name: string) => (await fx.sns.send(new CreateTopicCommand({ Name: name }))).TopicArn!;
    const topics = { operators: await topic('sigwatch-operators'), acme: await topic('sigwatch-acme'), payments: await topic('sigwatch-payments'), retail: await topic('sigwatch-retail') };
    const inbox = { operators: await queue('operators'), payments: await queue('payments'), paymentsDenies: await queue('payments-denies'), retail: await queue('retail') };
    const subscribe = (topicArn: string, q: { arn: string }, filter?: object) =>
      fx.sns.send(
        new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: q.arn, Attributes: { RawMessageDelivery: 'true', ...(filter ? { FilterPolicy: JSON.stringify(filter) } : {}) } }),
      );
    await subscribe(topics.operators, inbox.operators);
    await subscribe(topics.payments, inbox.payments);
    // A second subscriber that wants only the denies of its own team.
    await subscribe(topics.payments, inbox.paymentsDenies, { team: ['payments'], verdict: ['deny'] });
    await subscribe(topics.retail, inbox.retail);
    sc = { reg, s3, fx, dynamo, pushQueue: await queue('sigwatch-push'), inbox, topics };

    await s3.bucket(BUCKET);
    await s3.put(BUCKET, 'config/sigwatch.yaml', configYaml(topics));
    // acme's policy applies to both teams; payments' own policy only to payments.
    await s3.put(BUCKET, 'policies/acme/require-release-key.yaml', keyPolicyYaml('require-release-key', '**', key.publicKeyPem));
    // Globs cover the digest too: `*` runs over `@sha256:…`.
    // A KMS key of the payments account, for one repository: read through that account's role.
    await s3.put(
      BUCKET,
      'policies/acme/payments/kms-signed.yaml',
      `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: kms-signed}
spec:
  images: [{glob: "**/team/kms*"}]
  authorities:
  - name: kms-key
    key: {kms: "awskms:///${KMS_KEY_ARN}"}
`,
    );
    await s3.put(BUCKET, 'policies/acme/payments/no-blocked.yaml', staticPolicyYaml('no-blocked', '**/team/blocked*').replace('action: pass', 'action: fail'));

    images.signed = buildImage({ seed: 'on-push-signed' });
    images.unsigned = buildImage({ seed: 'on-push-unsigned' });
    images.late = buildImage({ seed: 'on-push-late' });
    images.revoked = buildImage({ seed: 'on-push-revoked' });
    images.blocked = buildImage({ seed: 'on-push-blocked' });
    images.kms = buildImage({ seed: 'on-push-kms' });
    const amd = buildImage({ seed: 'on-push-multi', platform: { os: 'linux', architecture: 'amd64' } });
    const arm = buildImage({ seed: 'on-push-multi', platform: { os: 'linux', architecture: 'arm64' } });
    images.index = buildIndex([amd, arm]);
    const repositoryOf = (tag: string) => (tag === 'blocked' ? 'team/blocked' : tag === 'kms' ? 'team/kms' : 'team/app');
    for (const [tag, image] of Object.entries(images)) await pushManifest(reg, repositoryOf(tag), tag, image);
    await signImageWithKey(reg, 'team/kms', images.kms!, kmsKey.privateKey);
    for (const name of ['signed', 'revoked', 'index'] as const) await signImageWithKey(reg, 'team/app', images[name]!, key.privateKey);
    await signImageWithKey(reg, 'team/blocked', images.blocked!, key.privateKey);
  });
  after(async () => {
    await Promise.all([sc?.reg.stop(), sc?.s3.stop(), sc?.fx.stop(), sc?.dynamo.stop()]);
  });

  beforeEach(async () => {
    now = EVENT_TIME + (GRACE_SECONDS + 1) * 1000;
    logs = [];
    table = await sc.dynamo.table();
    sts?.restore();
    ecr?.restore();
    secrets?.restore();
    sts = mockClient(STSClient);
    ecr = mockClient(ECRClient);
    secrets = mockClient(SecretsManagerClient);
    sts.on(AssumeRoleCommand).callsFake((input: { RoleArn: string }) => ({
      Credentials: {
        AccessKeyId: `ASIA${input.RoleArn.slice(13, 25)}`,
        SecretAccessKey: 'member-secret',
        SessionToken: 'member-session-token',
        Expiration: new Date(now + 1800_000),
      },
    }));
    ecr.on(GetAuthorizationTokenCommand).resolves({
      authorizationData: [{ authorizationToken: Buffer.from(`AWS:${ECR_PASSWORD}`).toString('base64'), expiresAt: new Date(now + 12 * 3600_000) }],
    });
    secrets.on(GetSecretValueCommand, { SecretId: EXTERNAL_ID_SECRET }).resolves({ SecretString: EXTERNAL_ID });
    for (const q of [...Object.values(sc.inbox), sc.pushQueue]) await drain(q.url);
  });
  after(() => {
    sts?.restore();
    ecr?.restore();
    secrets?.restore();
  });

  it('admits a signed image and tells its team, through the assumed role and the ECR token', async () => {
    const res = await handler()(batch({ id: 'm1', body: event('signed', PAYMENTS, { 'image-digest': images.signed!.digest, 'image-tag': 'v1' }) }));
    assert.deepEqual(res.batchItemFailures, []);
    const [n, ...more] = await received('payments');
    assert.equal(more.length, 0);
    assert.equal(n!.verdict, 'admit');
    assert.equal(n!.team, 'payments');
    assert.equal(n!.account, PAYMENTS);
    assert.equal(n!.image, `${ecrHost(PAYMENTS)}/team/app@${images.signed!.digest}`);
    assert.deepEqual(n!.tags, ['v1']);
    assert.equal(n!.trigger, 'push');
    assert.equal(n!.eventId, 'evt-signed');
    assert.deepEqual((await received('paymentsDenies')).length, 0, 'the denies-only subscription gets no admit');
    // Kept for re-verification, which then reports only changes.
    const record = await new VerdictStore(sc.dynamo.client, table).get({ account: PAYMENTS, region: REGION, repository: 'team/app', digest: images.signed!.digest });
    assert.equal(record?.verdict, 'admit');
    assert.equal(record?.trigger, 'push');

    const calls = sts.commandCalls(AssumeRoleCommand);
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.args[0].input, {
      RoleArn: `arn:aws:iam::${PAYMENTS}:role/sigwatch-member`,
      RoleSessionName: `sigwatch-team.app-${images.signed!.digest.slice(7, 19)}`,
      DurationSeconds: 1800,
      SourceIdentity: 'sigwatch',
      ExternalId: EXTERNAL_ID,
    });
    const token = ecr.commandCalls(GetAuthorizationTokenCommand);
    assert.equal(token.length, 1);
    assert.deepEqual(token[0]!.args[0].input, { registryIds: [PAYMENTS] });
    // The ECR client carried the member account's session, not sigwatch's own credentials.
    const creds = await (token[0]!.thisValue as ECRClient).config.credentials();
    assert.equal(creds.accessKeyId, `ASIA${PAYMENTS}`);
    assert.equal(creds.sessionToken, 'member-session-token');
    for (const line of logs) {
      for (const secret of [ECR_PASSWORD, EXTERNAL_ID, 'member-secret', 'member-session-token']) assert.ok(!line.includes(secret), `log line leaks a secret: ${line}`);
    }
  });

  it("applies a group's policies to its descendants only: acme's to both teams, payments' not to retail", async () => {
    const h = handler();
    const res = await h(
      batch(
        { id: 'p', body: event('pay-blocked', PAYMENTS, { 'repository-name': 'team/blocked', 'image-digest': images.blocked!.digest, 'image-tag': 'v1' }) },
        { id: 'r', body: event('retail-blocked', RETAIL, { 'repository-name': 'team/blocked', 'image-digest': images.blocked!.digest, 'image-tag': 'v1' }) },
        { id: 'u', body: event('retail-unsigned', RETAIL, { 'image-digest': images.unsigned!.digest, 'image-tag': 'v2' }) },
      ),
    );
    assert.deepEqual(res.batchItemFailures, []);
    const payments = await received('payments');
    assert.deepEqual(payments.map((n) => [n.repository, n.verdict]), [['team/blocked', 'deny']]);
    assert.deepEqual(payments[0]!.policies.map((p) => [p.name, p.verdict]).sort(), [['no-blocked', 'fail'], ['require-release-key', 'pass']]);
    const retail = (await received('retail')).sort((a, b) => a.repository.localeCompare(b.repository));
    assert.deepEqual(retail.map((n) => [n.repository, n.verdict, n.team]), [['team/app', 'deny', 'retail'], ['team/blocked', 'admit', 'retail']]);
    assert.deepEqual(retail[1]!.policies.map((p) => p.name), ['require-release-key']);
    // One session per account, whatever the number of images.
    assert.deepEqual(sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input.RoleArn).sort(), [`arn:aws:iam::${PAYMENTS}:role/sigwatch-member`, `arn:aws:iam::${RETAIL}:role/sigwatch-member`]);
  });

  it('waits for a late signature: unsigned then signed within the grace period gives one admit and no deny', async () => {
    const h = handler();
    now = EVENT_TIME + (GRACE_SECONDS - 1) * 1000;
    const first = await h(batch({ id: 'img', body: event('late', PAYMENTS, { 'image-digest': images.late!.digest, 'image-tag': 'v1' }) }));
    assert.deepEqual(first.batchItemFailures, []);
    assert.equal((await received('payments')).length, 0, 'no deny inside the grace period');
    // cosign pushes the signature: its event re-verifies the subject.
    await signImageWithKey(sc.reg, 'team/app', images.late!, key.privateKey);
    await h(batch({ id: 'sig', body: event('late-sig', PAYMENTS, { 'image-digest': `sha256:${'5'.repeat(64)}`, 'image-tag': signatureTag(images.late!.digest) }) }));
    const admitted = await received('payments');
    assert.deepEqual(admitted.map((n) => [n.digest, n.verdict]), [[images.late!.digest, 'admit']]);
    // The re-check scheduled by the first event arrives after its delay: same verdict, not published again.
    await new Promise((r) => setTimeout(r, 1100));
    const rechecks = await drain(sc.pushQueue.url);
    assert.equal(rechecks.length, 1);
    now = EVENT_TIME + (GRACE_SECONDS + 5) * 1000;
    const again = await h(batch({ id: 'recheck', body: rechecks[0]!.Body! }));
    assert.deepEqual(again.batchItemFailures, []);
    assert.equal((await received('payments')).length, 0);
  });

  it('publishes one deny for an image still unsigned when the grace period ends', async () => {
    const h = handler({ grace: 2 });
    now = EVENT_TIME + 1000;
    await h(batch({ id: 'img', body: event('never', PAYMENTS, { 'image-digest': images.unsigned!.digest, 'image-tag': 'v3' }) }));
    assert.equal((await received('payments')).length, 0);
    await new Promise((r) => setTimeout(r, 1100));
    const [recheck, ...others] = await drain(sc.pushQueue.url);
    assert.equal(others.length, 0);
    const body = JSON.parse(recheck!.Body!) as { sigwatch: string; attempt: number; firstSeen: string };
    assert.deepEqual([body.sigwatch, body.attempt, body.firstSeen], ['recheck', 1, '2026-11-23T10:00:00Z']);
    now = EVENT_TIME + 3000;
    await h(batch({ id: 'recheck', body: recheck!.Body! }));
    const denies = await received('payments');
    assert.deepEqual(denies.map((n) => [n.digest, n.verdict]), [[images.unsigned!.digest, 'deny']]);
    assert.match(denies[0]!.reasons.join(' '), /signature/i);
    assert.deepEqual((await received('paymentsDenies')).map((n) => n.verdict), ['deny']);
    assert.equal((await drain(sc.pushQueue.url)).length, 0, 'no further re-check after the final deny');
  });

  it("re-verifies the image when its signature is deleted", async () => {
    const h = handler();
    await h(batch({ id: 'a', body: event('revoked-push', PAYMENTS, { 'image-digest': images.revoked!.digest, 'image-tag': 'v1' }) }));
    assert.deepEqual((await received('payments')).map((n) => n.verdict), ['admit']);
    await deleteManifest(sc.reg, 'team/app', await signatureDigest(sc.reg, images.revoked!));
    await h(batch({ id: 'd', body: event('revoked-sig-deleted', PAYMENTS, { 'action-type': 'DELETE', 'image-digest': `sha256:${'6'.repeat(64)}`, 'image-tag': signatureTag(images.revoked!.digest) }) }));
    assert.deepEqual((await received('payments')).map((n) => [n.digest, n.verdict]), [[images.revoked!.digest, 'deny']]);
  });

  it('gives a multi-arch push (two platform manifests, then the index) one verdict, for the index', async () => {
    const index = images.index!;
    const children = index.children!;
    const res = await handler()(
      batch(
        ...children.map((c, i) => ({ id: `c${i}`, body: event(`child-${i}`, PAYMENTS, { 'image-digest': c.digest, 'manifest-media-type': c.mediaType }) })),
        { id: 'idx', body: event('index', PAYMENTS, { 'image-digest': index.digest, 'image-tag': 'v1', 'manifest-media-type': index.mediaType }) },
      ),
    );
    assert.deepEqual(res.batchItemFailures, []);
    assert.deepEqual((await received('payments')).map((n) => [n.digest, n.verdict]), [[index.digest, 'admit']]);
  });

  it("reads a KMS key of the member account through that account's role", async () => {
    const kms = mockClient(KMSClient);
    try {
      const der = createPublicKey(kmsKey.publicKeyPem).export({ type: 'spki', format: 'der' });
      kms.on(GetPublicKeyCommand).resolves({ KeyId: KMS_KEY_ARN, PublicKey: new Uint8Array(der), KeySpec: 'ECC_NIST_P256' });
      const res = await handler()(batch({ id: 'k', body: event('kms', PAYMENTS, { 'repository-name': 'team/kms', 'image-digest': images.kms!.digest, 'image-tag': 'v1' }) }));
      assert.deepEqual(res.batchItemFailures, []);
      const [n] = await received('payments');
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
    const h = handler();
    const e = event('dup', PAYMENTS, { 'image-digest': images.signed!.digest, 'image-tag': 'v1' });
    await h(batch({ id: 'x1', body: e }, { id: 'x2', body: e }));
    await h(batch({ id: 'x3', body: e }));
    assert.equal((await received('payments')).length, 1);
  });

  it('reports an image of an account no association covers to the operators, without assuming any role', async () => {
    const res = await handler()(batch({ id: 's', body: event('stranger', STRANGER, { 'image-digest': images.signed!.digest, 'image-tag': 'v1' }) }));
    assert.deepEqual(res.batchItemFailures, []);
    const [n, ...more] = await received('operators');
    assert.equal(more.length, 0);
    assert.equal(n!.verdict, 'error');
    assert.equal(n!.account, STRANGER);
    assert.match(n!.reasons[0]!, new RegExp(`account ${STRANGER} is not associated`));
    assert.equal(sts.commandCalls(AssumeRoleCommand).length, 0);
    assert.equal(ecr.commandCalls(GetAuthorizationTokenCommand).length, 0);
  });

  it('reports a role that refuses sigwatch to the team and the operators as an error verdict', async () => {
    sts.on(AssumeRoleCommand).rejects(Object.assign(new Error('not authorized to perform sts:AssumeRole'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }));
    const res = await handler()(batch({ id: 'a', body: event('denied', RETAIL, { 'image-digest': images.signed!.digest, 'image-tag': 'v1' }) }));
    assert.deepEqual(res.batchItemFailures, []);
    const [team] = await received('retail');
    const [ops] = await received('operators');
    for (const n of [team, ops]) {
      assert.equal(n!.verdict, 'error');
      assert.match(n!.reasons[0]!, new RegExp(`account ${RETAIL}: cannot assume arn:aws:iam::${RETAIL}:role/sigwatch-member`));
      assert.ok(!JSON.stringify(n).includes(EXTERNAL_ID));
    }
  });

  it('fails only the malformed record of a batch, and it alone goes back to the queue', async () => {
    const res = await handler()(
      batch(
        { id: 'good', body: event('good', PAYMENTS, { 'image-digest': images.signed!.digest, 'image-tag': 'v1' }) },
        { id: 'bad', body: '{"source": "aws.ecr", "detail-type": "ECR Image Action"' },
        { id: 'worse', body: event('worse', PAYMENTS, { 'image-digest': 'sha256:nothex' }) },
      ),
    );
    assert.deepEqual(res.batchItemFailures.map((f) => f.itemIdentifier).sort(), ['bad', 'worse']);
    assert.deepEqual((await received('payments')).map((n) => n.verdict), ['admit']);
    assert.ok(logs.some((l) => l.includes('"event rejected"') && l.includes('detail.image-digest')));
  });

  it('retries a verdict whose publish failed, and publishes it once SNS recovers', async () => {
    // The payments topic is gone: the publish fails, the record is retried, the claim released.
    const { DeleteTopicCommand } = await import('@aws-sdk/client-sns');
    await sc.fx.sns.send(new DeleteTopicCommand({ TopicArn: sc.topics.payments }));
    const h = handler();
    const e = event('sns-down', PAYMENTS, { 'image-digest': images.signed!.digest, 'image-tag': 'v9' });
    const failed = await h(batch({ id: 'r1', body: e }));
    assert.deepEqual(failed.batchItemFailures, [{ itemIdentifier: 'r1' }]);
    assert.ok(logs.some((l) => l.includes('record failed, will be retried')));
    // SNS is back (the same topic ARN): the redelivered record is published.
    await sc.fx.sns.send(new CreateTopicCommand({ Name: 'sigwatch-payments' }));
    await sc.fx.sns.send(new SubscribeCommand({ TopicArn: sc.topics.payments, Protocol: 'sqs', Endpoint: sc.inbox.payments.arn, Attributes: { RawMessageDelivery: 'true' } }));
    const ok = await h(batch({ id: 'r1', body: e }));
    assert.deepEqual(ok.batchItemFailures, []);
    assert.deepEqual((await received('payments')).map((n) => [n.verdict, n.tags[0]]), [['admit', 'v9']]);
  });

  it('reuses an account session until 5 minutes before it expires, then assumes the role again', async () => {
    const h = handler();
    const e = (id: string, tag: string) => event(id, PAYMENTS, { 'image-digest': images.signed!.digest, 'image-tag': tag });
    await h(batch({ id: '1', body: e('s1', 't1') }));
    now += 20 * 60_000;
    await h(batch({ id: '2', body: e('s2', 't2') }));
    assert.equal(sts.commandCalls(AssumeRoleCommand).length, 1);
    now += 6 * 60_000; // 26 minutes into a 30-minute session
    await h(batch({ id: '3', body: e('s3', 't3') }));
    assert.equal(sts.commandCalls(AssumeRoleCommand).length, 2);
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
