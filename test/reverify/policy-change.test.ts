import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DeleteObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { DescribeImagesCommand, DescribeRepositoriesCommand } from '@aws-sdk/client-ecr';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { KMSClient } from '@aws-sdk/client-kms';
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { readEnvironment } from '../../src/pipeline/environment.ts';
import type { AwsClients } from '../../src/pipeline/assemble.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { assembleReverify, type ReverifyRuntime } from '../../src/reverify/assemble.ts';
import { policyChangeHandler } from '../../functions/policy-change/handler.ts';
import { plannerHandler } from '../../functions/reverify-planner/handler.ts';
import { workerHandler } from '../../functions/reverify-worker/handler.ts';
import { parseReverifyMessage } from '../../src/reverify/messages.ts';
import { ecrHost } from '../../src/registry/providers/ecr-names.ts';
import { keyPolicyYaml, pushManifest, signImageWithKey, type BuiltManifest } from '../support/index.ts';
import { startS3, type TestS3 } from '../support/s3.ts';
import {
  PAYMENTS,
  RETAIL,
  configYaml,
  detail,
  drain,
  ecrClientFor,
  EXTERNAL_ID,
  image,
  REGION,
  serveListing,
  startWorld,
  type World,
} from '../support/reverify.ts';
import { testNow } from '../support/clock.ts';

/**
 * The deployed wiring, end to end: the functions' handlers assembled from
 * their environment on the on-push CentralVerifier, with the configuration and
 * policies in S3 (s3rver), and S3 events for a policy of acme/payments.
 * Only acme/payments' account is listed, and once the policy's globs are
 * known, only the repository they match.
 */

const BUCKET = 'sigwatch-config';
const SECRET = 'arn:aws:secretsmanager:eu-west-1:999999999999:secret:sigwatch/external-id/acme-AbCdEf';
const HOST_A = ecrHost(PAYMENTS, REGION);
const context = { getRemainingTimeInMillis: () => 900_000 };

function s3Event(id: string, type: 'Object Created' | 'Object Deleted', key: string, sequencer: string) {
  return {
    version: '0',
    id,
    'detail-type': type,
    source: 'aws.s3',
    account: '999999999999',
    time: '2026-11-23T12:00:00Z',
    region: REGION,
    resources: [`arn:aws:s3:::${BUCKET}`],
    detail: { version: '0', bucket: { name: BUCKET }, object: { key, sequencer }, reason: type === 'Object Created' ? 'PutObject' : 'DeleteObject' },
  };
}

describe('policy change → re-verification of the matching repositories only (assembled handlers)', () => {
  let world: World;
  let s3: TestS3;
  let rt: ReverifyRuntime;
  const img: Record<string, BuiltManifest> = {};
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const otherPem = other.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const strictKey = 'policies/acme/payments/web-strict.yaml';

  /** Runs the worker function over the reverify queue until it is empty; returns the images messages' repositories. */
  async function runWorker(): Promise<string[]> {
    const repositories: string[] = [];
    const handler = workerHandler(rt);
    for (;;) {
      const { Messages = [] } = await world.fx.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: world.reverifyQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      if (Messages.length === 0) return repositories.sort();
      for (const m of Messages) {
        const parsed = parseReverifyMessage(m.Body!);
        if (parsed.ok && parsed.message.kind === 'images') repositories.push(`${parsed.message.account}/${parsed.message.repository}`);
      }
      const event = { Records: Messages.map((m) => ({ messageId: m.MessageId!, body: m.Body! })) } as unknown as SQSEvent;
      assert.deepEqual(await handler(event, context), { batchItemFailures: [] });
      await world.fx.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: world.reverifyQueueUrl,
          Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
    }
  }

  const verdictsOn = async (topic: 'payments' | 'retail') =>
    (await drain(world, world.topics[topic])).filter((m) => m.type === undefined).map((m) => [m.body.image, m.body.verdict, m.body.trigger]);

  before(async () => {
    world = await startWorld();
    s3 = await startS3();
    await s3.bucket(BUCKET);
    await s3.put(BUCKET, 'config/sigwatch.yaml', configYaml(world.topics, '', `{secretArn: ${SECRET}}`));
    await s3.put(BUCKET, 'policies/acme/payments/signed.yaml', keyPolicyYaml('payments-signed', '**/payments/**', world.publicKeyPem));
    await s3.put(BUCKET, 'policies/acme/retail/signed.yaml', keyPolicyYaml('retail-signed', '**/retail/**', world.publicKeyPem));

    // The CentralVerifier reaches ECR hosts at the local registry, repository paths as they are.
    img.api = image('pc-api');
    img.web = image('pc-web');
    img.shop = image('pc-shop');
    for (const [repo, m, tag] of [
      ['payments/api', img.api, 'v1'],
      ['payments/web', img.web, 'v1'],
      ['retail/shop', img.shop, 'v1'],
    ] as const) {
      await pushManifest(world.reg, repo, tag, m!);
      const account = repo.startsWith('payments') ? PAYMENTS : RETAIL;
      await signImageWithKey(world.reg, repo, m!, world.key, { dockerReference: `${ecrHost(account, REGION)}/${repo}` });
    }
    serveListing(world, PAYMENTS, {
      repositoryPages: [['payments/api', 'payments/web']],
      images: { 'payments/api': [[detail('payments/api', img.api, ['v1'])]], 'payments/web': [[detail('payments/web', img.web, ['v1'])]] },
    });
    serveListing(world, RETAIL, { repositoryPages: [['retail/shop']], images: { 'retail/shop': [[detail('retail/shop', img.shop, ['v1'])]] } });

    const secrets = new SecretsManagerClient({ region: REGION, credentials: { accessKeyId: 'AKIDCENTRAL', secretAccessKey: 'central-secret' } });
    mockClient(secrets).on(GetSecretValueCommand, { SecretId: SECRET }).resolves({ SecretString: EXTERNAL_ID });
    const clients: AwsClients = {
      s3: s3.client,
      sns: world.fx.sns,
      sqs: world.fx.sqs,
      dynamo: world.dynamo.client,
      sts: world.stsClient,
      secrets,
      ecr: (region, credentials) => ecrClientFor(world, region, credentials),
      kms: (region, credentials) => new KMSClient({ region, credentials }),
    };
    const env = readEnvironment({ SIGWATCH_CONFIG_BUCKET: BUCKET, SIGWATCH_TABLE: world.table, SIGWATCH_LOG_LEVEL: 'warn' });
    rt = assembleReverify({ ...env, reverifyQueueUrl: world.reverifyQueueUrl }, clients, {
      functionName: 'test',
      endpoint: () => world.reg.host,
      registry: new RegistryClient({ now: testNow, insecureHosts: [world.reg.host] }),
      write: () => {},
      now: testNow,
    });

    // The daily run first: every image's verdict is known (all admitted: nothing published).
    await plannerHandler(rt)({ time: '2026-11-23T03:17:00Z' }, context);
    assert.deepEqual(await runWorker(), [`${PAYMENTS}/payments/api`, `${PAYMENTS}/payments/web`, `${RETAIL}/retail/shop`]);
    assert.deepEqual(await verdictsOn('payments'), []);
    assert.deepEqual(await verdictsOn('retail'), []);
    await drain(world, world.topics.operators);
  });
  after(async () => {
    await s3.stop();
    await world.stop();
  });

  const reset = () => {
    world.sts.resetHistory();
    for (const { mock } of world.ecr.values()) mock.resetHistory();
  };
  const described = (account: string) =>
    world.ecr
      .get(account)!
      .mock.commandCalls(DescribeImagesCommand)
      .map((c) => c.args[0].input.repositoryName);

  it('the daily run ended with its posture report in the config bucket (reports/<run>/ and reports/latest/)', async () => {
    const read = async (key: string) => (await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToString();
    const latest = JSON.parse(await read('reports/latest/report.json')) as { runId: string; totals: Record<string, number>; groups: { group: string }[] };
    assert.equal(latest.runId, 'reverify-20261123T031700Z');
    assert.deepEqual(latest.totals, { images: 3, admit: 3, deny: 0, warn: 0, error: 0 });
    assert.deepEqual(
      latest.groups.map((g) => g.group),
      ['acme'],
    );
    assert.match(await read('reports/reverify-20261123T031700Z/report.html'), /^<!DOCTYPE html>/);
    assert.equal(
      await read('reports/reverify-20261123T031700Z/report.csv'),
      'group,team,account,region,repository,digest,verdict,since,lastVerified,trigger,reasons\r\n',
    );
  });

  it('a new policy whose previous globs are unknown re-verifies all of its groups’ images, and none of other groups', async () => {
    reset();
    // web must now also be signed by another key: its admit becomes a deny.
    await s3.put(BUCKET, strictKey, keyPolicyYaml('web-strict', '**/payments/web*', otherPem));
    await policyChangeHandler(rt)(s3Event('e1', 'Object Created', strictKey, '0A01'), context);
    assert.deepEqual(described(PAYMENTS), ['payments/api', 'payments/web']);
    assert.deepEqual(world.ecr.get(RETAIL)!.mock.commandCalls(DescribeRepositoriesCommand), [], 'acme/retail is not listed');
    assert.ok(world.sts.commandCalls(AssumeRoleCommand).every((c) => c.args[0].input.RoleArn?.includes(PAYMENTS)));
    assert.deepEqual(await runWorker(), [`${PAYMENTS}/payments/api`, `${PAYMENTS}/payments/web`]);
    assert.deepEqual(await verdictsOn('payments'), [[`${HOST_A}/payments/web@${img.web!.digest}`, 'deny', 'policy-change']]);
  });

  it('a changed policy re-verifies only the repositories its old or new globs match', async () => {
    reset();
    await s3.put(BUCKET, strictKey, keyPolicyYaml('web-strict', '**/payments/web*', otherPem).replace('spec:\n', 'spec:\n  mode: warn\n'));
    await policyChangeHandler(rt)(s3Event('e2', 'Object Created', strictKey, '0A02'), context);
    assert.deepEqual(described(PAYMENTS), ['payments/web'], 'payments/api is listed but its images are not described');
    // EventBridge delivers again: the same run, still scoped by the globs from before the change.
    await policyChangeHandler(rt)(s3Event('e2', 'Object Created', strictKey, '0A02'), context);
    assert.deepEqual(described(PAYMENTS), ['payments/web', 'payments/web']);
    assert.deepEqual(world.ecr.get(RETAIL)!.mock.commandCalls(DescribeImagesCommand), []);
    // The batch was sent twice (same batch id): verified twice, counted and published once.
    assert.deepEqual(await runWorker(), [`${PAYMENTS}/payments/web`, `${PAYMENTS}/payments/web`]);
    const payments = await drain(world, world.topics.payments);
    assert.deepEqual(
      payments.filter((m) => m.type === undefined).map((m) => [m.body.image, m.body.verdict, m.body.trigger]),
      [[`${HOST_A}/payments/web@${img.web!.digest}`, 'warn', 'policy-change']],
    );
    assert.deepEqual(
      payments.filter((m) => m.type === 'run-summary').map((m) => m.body.counts),
      [{ images: 1, admit: 0, deny: 0, warn: 1, error: 0, unverified: 0, changed: 1 }],
    );
  });

  it('a deleted policy re-verifies the images its last globs matched', async () => {
    reset();
    await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: strictKey }));
    await policyChangeHandler(rt)(s3Event('e3', 'Object Deleted', strictKey, '0A03'), context);
    assert.deepEqual(described(PAYMENTS), ['payments/web']);
    assert.deepEqual(await runWorker(), [`${PAYMENTS}/payments/web`]);
    assert.deepEqual(await verdictsOn('payments'), [[`${HOST_A}/payments/web@${img.web!.digest}`, 'admit', 'policy-change']]);
  });

  it('ignores objects that are not policies of any group', async () => {
    reset();
    await policyChangeHandler(rt)(s3Event('e4', 'Object Created', 'config/sigwatch.yaml', '0A04'), context);
    await policyChangeHandler(rt)({ source: 'aws.s3', 'detail-type': 'Object Restore Completed' }, context);
    assert.deepEqual(described(PAYMENTS), []);
    assert.deepEqual(await runWorker(), []);
  });
});
