/**
 * Event → SNS latency of a warm on-push handler, and the AWS and registry calls
 * each event costs. The handler is the deployed one (functions/on-push/handler.ts
 * assembled by src/pipeline/assemble.ts) with SNS/SQS on fauxqs, DynamoDB on
 * dynalite, S3 on s3rver, a docker-registry with htpasswd standing in for ECR,
 * and STS/ECR/Secrets Manager answered in process (aws-sdk-client-mock), so
 * the figures are sigwatch's own work plus loopback round trips.
 *
 * Prints p50/p99 per event for a keyed signature (one event per batch, the
 * latency a team waits for) and the throughput of 10-record batches.
 */
import { systemClock } from '../src/clock.ts';
import { CreateTopicCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { KMSClient } from '@aws-sdk/client-kms';
import { PublishCommand } from '@aws-sdk/client-sns';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { onPushHandler } from '../functions/on-push/handler.ts';
import { assembleOnPush } from '../src/pipeline/assemble.ts';
import { readEnvironment } from '../src/pipeline/environment.ts';
import { RegistryClient } from '../src/registry/client.ts';
import { buildImage, generateKeyPair, keyPolicyYaml, pushManifest, signImageWithKey, startRegistry } from '../test/support/index.ts';
import { startDynamo } from '../test/support/dynamodb.ts';
import { startTestFauxqs } from '../test/support/fauxqs.ts';
import { startS3, testS3Client } from '../test/support/s3.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 200);
const ACCOUNT = '111122223333';
const REGION = 'eu-west-1';
const PASSWORD = 'bench-ecr-password';

const [reg, s3, fx, dynamo] = await Promise.all([
  startRegistry({ auth: { username: 'AWS', password: PASSWORD } }),
  startS3(),
  startTestFauxqs(),
  startDynamo(),
]);
try {
  const topic = (await fx.sns.send(new CreateTopicCommand({ Name: 'bench-verdicts' }))).TopicArn!;
  const queueUrl = (await fx.sqs.send(new CreateQueueCommand({ QueueName: 'bench-push' }))).QueueUrl!;
  const key = generateKeyPair();
  await s3.bucket('bench-config');
  await s3.put(
    'bench-config',
    'config/sigwatch.yaml',
    `defaults: {roleName: sigwatch-member}\noperators: {topicArn: "${topic}"}\ngroups:\n  acme: {team: bench, topicArn: "${topic}"}\nassociations:\n  - group: acme\n    externalId: {secretArn: "arn:aws:secretsmanager:${REGION}:999999999999:secret:x-AbCdEf"}\n    accounts: [{id: "${ACCOUNT}", regions: [${REGION}]}]\n`,
  );
  await s3.put('bench-config', 'policies/acme/key.yaml', keyPolicyYaml('key', '**', key.publicKeyPem));
  const images = Array.from({ length: EVENTS }, (_, i) => buildImage({ seed: `bench-${i}` }));
  for (const [i, image] of images.entries()) {
    await pushManifest(reg, 'team/app', `v${i}`, image);
    await signImageWithKey(reg, 'team/app', image, key.privateKey);
  }

  const sts = mockClient(STSClient);
  const ecr = mockClient(ECRClient);
  const secrets = mockClient(SecretsManagerClient);
  sts
    .on(AssumeRoleCommand)
    .resolves({ Credentials: { AccessKeyId: 'ASIABENCH', SecretAccessKey: 's', SessionToken: 't', Expiration: new Date(Date.now() + 3600_000) } });
  ecr.on(GetAuthorizationTokenCommand).resolves({
    authorizationData: [{ authorizationToken: Buffer.from(`AWS:${PASSWORD}`).toString('base64'), expiresAt: new Date(Date.now() + 12 * 3600_000) }],
  });
  secrets.on(GetSecretValueCommand).resolves({ SecretString: 'bench-external-id' });

  let publishes = 0;
  const originalSend = fx.sns.send.bind(fx.sns);
  fx.sns.send = ((command: unknown, ...rest: unknown[]) => {
    if (command instanceof PublishCommand) publishes++;
    return (originalSend as (...a: unknown[]) => unknown)(command, ...rest);
  }) as typeof fx.sns.send;

  const registry = new RegistryClient({ now: systemClock, insecureHosts: [reg.host] });
  const env = readEnvironment({ SIGWATCH_CONFIG_BUCKET: 'bench-config', SIGWATCH_TABLE: await dynamo.table(), SIGWATCH_GRACE_SECONDS: '0' });
  const handler = onPushHandler(
    assembleOnPush(
      { ...env, pushQueueUrl: queueUrl },
      {
        s3: testS3Client(s3.endpoint),
        sns: fx.sns,
        sqs: fx.sqs,
        dynamo: dynamo.client,
        sts: new STSClient({ region: REGION, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }),
        secrets: new SecretsManagerClient({ region: REGION, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }),
        ecr: (region, credentials) => new ECRClient({ region, credentials }),
        kms: (region, credentials) => new KMSClient({ region, credentials }),
      },
      { endpoint: () => reg.host, registry, write: () => {}, now: systemClock },
    ),
  );
  const event = (i: number, suffix = '') => ({
    messageId: `m${i}${suffix}`,
    eventSource: 'aws:sqs',
    attributes: { ApproximateReceiveCount: '1' },
    body: JSON.stringify({
      version: '0',
      id: `bench-${i}${suffix}`,
      'detail-type': 'ECR Image Action',
      source: 'aws.ecr',
      account: ACCOUNT,
      time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      region: REGION,
      resources: [],
      detail: { result: 'SUCCESS', 'repository-name': 'team/app', 'action-type': 'PUSH', 'image-digest': images[i]!.digest, 'image-tag': `v${i}` },
    }),
  });
  const run = async (records: ReturnType<typeof event>[]) => {
    const res = await handler({ Records: records } as unknown as SQSEvent);
    if (res.batchItemFailures.length > 0) throw new Error(`failed records: ${JSON.stringify(res.batchItemFailures)}`);
  };

  // Cold: the first event pays for the configuration, the policy set, the session and the ECR token.
  registry.http.counter.reset();
  let t = performance.now();
  await run([event(0)]);
  const cold = {
    ms: performance.now() - t,
    registry: registry.http.counter.total,
    sts: sts.commandCalls(AssumeRoleCommand).length,
    ecr: ecr.commandCalls(GetAuthorizationTokenCommand).length,
  };

  // Warm, one event per invocation.
  registry.http.counter.reset();
  const latencies: number[] = [];
  const half = Math.floor(EVENTS / 2);
  for (let i = 1; i < half; i++) {
    t = performance.now();
    await run([event(i)]);
    latencies.push(performance.now() - t);
  }
  const warmEvents = half - 1;
  const warmRegistry = registry.http.counter.total / warmEvents;
  const byKind = Object.fromEntries([...registry.http.counter.byKind].map(([k, v]) => [k, +(v / warmEvents).toFixed(2)]));

  // Warm batches of 10, as the event source mapping delivers under load.
  t = performance.now();
  let batched = 0;
  for (let i = half; i + 10 <= EVENTS; i += 10) {
    await run(Array.from({ length: 10 }, (_, j) => event(i + j)));
    batched += 10;
  }
  const batchSeconds = (performance.now() - t) / 1000;

  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;
  const figures = {
    events: EVENTS,
    coldFirstEventMs: +cold.ms.toFixed(1),
    coldCalls: { registry: cold.registry, stsAssumeRole: cold.sts, ecrGetAuthorizationToken: cold.ecr },
    warmP50Ms: +pct(50).toFixed(2),
    warmP99Ms: +pct(99).toFixed(2),
    warmRegistryRequestsPerEvent: +warmRegistry.toFixed(2),
    warmRegistryRequestsByKind: byKind,
    stsCallsTotal: sts.commandCalls(AssumeRoleCommand).length,
    ecrTokenCallsTotal: ecr.commandCalls(GetAuthorizationTokenCommand).length,
    snsPublishesPerEvent: +(publishes / (1 + warmEvents + batched)).toFixed(2),
    batchOf10EventsPerSecond: +(batched / batchSeconds).toFixed(1),
  };
  console.log('on-push: event → SNS on a warm handler (loopback registry, fauxqs, dynalite, s3rver)');
  for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(34)} ${typeof v === 'object' ? JSON.stringify(v) : v}`);
  if (process.env.BENCH_JSON) console.log(JSON.stringify(figures));
  sts.restore();
  ecr.restore();
  secrets.restore();
} finally {
  await Promise.all([reg.stop(), s3.stop(), fx.stop(), dynamo.stop()]);
}
