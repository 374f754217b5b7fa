/**
 * The world the reverify tests run in: two member accounts (payments and
 * retail) whose ECR control plane is mocked per account (aws-sdk-client-mock,
 * every request recorded), whose images live in a real docker-registry behind
 * the password the mocked GetAuthorizationToken hands out, STS mocked,
 * DynamoDB on dynalite, SNS and SQS on fauxqs. `verify` stands in for the
 * on-push composition (src/pipeline/central.ts): association → STS → ECR
 * token → the group's policies → verifyImage.
 *
 * Not a test file itself (no `.test.ts`): the reverify test files share it.
 */
import { recordingLogger, type LogEntry } from './logs.ts';
import { testTrustRoots } from './trust-roots.ts';
import { TEST_EPOCH, testNow } from './clock.ts';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import {
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  ECRServiceException,
  GetAuthorizationTokenCommand,
  type DescribeImagesCommandInput,
  type DescribeRepositoriesCommandInput,
  type ImageDetail,
} from '@aws-sdk/client-ecr';
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { AssumeRoleCommand, STSClient, STSServiceException, type AssumeRoleCommandInput } from '@aws-sdk/client-sts';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { AccountDirectory } from '../../src/accounts/groups.ts';
import { AwsSessions, type AwsCredentials } from '../../src/accounts/sts.ts';
import { parseConfig } from '../../src/accounts/config.ts';
import { type SigwatchConfig } from '../../src/accounts/types.ts';
import { verifyImage } from '../../src/verify/verify-image.ts';
import type { PolicySet } from '../../src/policy/types.ts';
import { EcrCredentialProvider } from '../../src/registry/providers/ecr.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { parseImageTarget } from '../../src/registry/target.ts';
import { processReverifyRecords } from '../../src/reverify/dispatch.ts';
import type { PlannerDeps } from '../../src/reverify/planner.ts';
import { SqsQueue } from '../../src/reverify/queue.ts';
import { RunLedger, type RunState } from '../../src/reverify/run-ledger.ts';
import { ecrHost } from '../../src/registry/providers/ecr-names.ts';
import { failureReporter, publishRunSummaries } from '../../src/reverify/summary.ts';
import { SnsTopics } from '../../src/reverify/topics.ts';
import type { VerifyOwnedImage, WorkerDeps } from '../../src/reverify/worker.ts';
import { buildPolicySet, policiesMatching } from '../../src/store/policy-set.ts';
import { VerdictStore } from '../../src/store/verdicts.ts';
import { buildImage, keyPolicyYaml, pushManifest, signImageWithKey, startRegistry, type BuiltManifest, type TestRegistry } from './index.ts';
import { startDynamo, type TestDynamo } from './dynamodb.ts';
import { startTestFauxqs, type TestFauxqs } from './fauxqs.ts';
import { assertNoSecrets, ECR_TOKEN_A, EXTERNAL_ID } from './secrets.ts';

export { PAYMENTS, RETAIL, REGION } from './accounts.ts';
import { PAYMENTS, RETAIL, REGION } from './accounts.ts';
export { EXTERNAL_ID };
export const ECR_PASSWORD = ECR_TOKEN_A;

export interface Subscriber {
  topicArn: string;
  url: string;
}

export interface World {
  reg: TestRegistry;
  fx: TestFauxqs;
  dynamo: TestDynamo;
  table: string;
  config: SigwatchConfig;
  directory: AccountDirectory;
  key: KeyObject;
  publicKeyPem: string;
  sts: AwsClientStub<STSClient>;
  stsClient: STSClient;
  ecr: Map<string, { client: ECRClient; mock: AwsClientStub<ECRClient> }>;
  /** Credentials each ECR client was built with, in order. */
  ecrBuilt: { account: string; region: string; accessKeyId: string; sessionToken: string }[];
  /** Accounts whose AssumeRole is refused. */
  denied: Set<string>;
  topics: Record<'payments' | 'retail' | 'platform' | 'operators', Subscriber>;
  reverifyQueueUrl: string;
  sets: Record<string, PolicySet>;
  stop(): Promise<void>;
}

export function configYaml(topics: World['topics'], extra = '', externalId = `{inline: ${EXTERNAL_ID}}`): string {
  return `defaults:
  roleName: sigwatch-reader
operators:
  topicArn: ${topics.operators.topicArn}
groups:
  acme:
    team: platform
    topicArn: ${topics.platform.topicArn}
  acme/payments:
    team: payments
    topicArn: ${topics.payments.topicArn}
  acme/retail:
    team: retail
    topicArn: ${topics.retail.topicArn}
associations:
  - group: acme/payments
    externalId: ${externalId}
    accounts:
      - id: "${PAYMENTS}"
        regions: [${REGION}]
  - group: acme/retail
    externalId: ${externalId}
    accounts:
      - id: "${RETAIL}"
        regions: [${REGION}]
${extra}`;
}

export async function startWorld(): Promise<World> {
  const reg = await startRegistry({ auth: { username: 'AWS', password: ECR_PASSWORD } });
  const fx = await startTestFauxqs();
  const dynamo = await startDynamo();
  const table = await dynamo.table();
  const subscriber = async (name: string): Promise<Subscriber> => {
    const { TopicArn } = await fx.sns.send(new CreateTopicCommand({ Name: name }));
    const { QueueUrl } = await fx.sqs.send(new CreateQueueCommand({ QueueName: `${name}-inbox` }));
    const { Attributes } = await fx.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    await fx.sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: Attributes!.QueueArn!, Attributes: { RawMessageDelivery: 'true' } }));
    return { topicArn: TopicArn!, url: QueueUrl! };
  };
  const topics = {
    payments: await subscriber('sigwatch-payments'),
    retail: await subscriber('sigwatch-retail'),
    platform: await subscriber('sigwatch-platform'),
    operators: await subscriber('sigwatch-operators'),
  };
  const { QueueUrl: reverifyQueueUrl } = await fx.sqs.send(new CreateQueueCommand({ QueueName: 'sigwatch-reverify' }));
  const parsed = parseConfig(configYaml(topics, 'reverify:\n  exclude: ["**/tmp"]\n'), { allowInlineExternalId: true });
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.problems));
  const config = parsed.config;

  const { privateKey: key, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const set = (file: string, yaml: string) => buildPolicySet([{ file, text: yaml, version: 'v1' }]);
  const sets = {
    'acme/payments': set('s3://sigwatch-config/policies/acme/payments/signed.yaml', keyPolicyYaml('payments-signed', '**/payments/**', publicKeyPem)),
    'acme/retail': set('s3://sigwatch-config/policies/acme/retail/signed.yaml', keyPolicyYaml('retail-signed', '**/retail/**', publicKeyPem)),
  };

  const stsClient = new STSClient({ region: REGION, credentials: { accessKeyId: 'AKIDCENTRAL', secretAccessKey: 'central-secret' } });
  const sts = mockClient(stsClient);
  const denied = new Set<string>();
  sts.on(AssumeRoleCommand).callsFake((input: AssumeRoleCommandInput) => {
    const account = /::(\d{12}):/.exec(input.RoleArn ?? '')?.[1] ?? '';
    if (denied.has(account)) {
      throw new STSServiceException({
        name: 'AccessDenied',
        $fault: 'client',
        message: `not authorized; ExternalId ${input.ExternalId}`,
        $metadata: { httpStatusCode: 403, requestId: 'req-denied' },
      });
    }
    return {
      Credentials: {
        AccessKeyId: `ASIA${account}`,
        SecretAccessKey: `secret-${account}`,
        SessionToken: `token-${account}`,
        Expiration: new Date(TEST_EPOCH + 3600_000),
      },
    };
  });

  const ecr = new Map<string, { client: ECRClient; mock: AwsClientStub<ECRClient> }>();
  for (const account of [PAYMENTS, RETAIL]) {
    const client = new ECRClient({ region: REGION, maxAttempts: 1, credentials: { accessKeyId: 'unused', secretAccessKey: 'unused' } });
    const mock = mockClient(client);
    mock.on(GetAuthorizationTokenCommand).resolves({
      authorizationData: [
        {
          authorizationToken: Buffer.from(`AWS:${ECR_PASSWORD}`).toString('base64'),
          expiresAt: new Date(TEST_EPOCH + 12 * 3600_000),
          proxyEndpoint: `https://${ecrHost(account, REGION)}`,
        },
      ],
    });
    ecr.set(account, { client, mock });
  }

  const world: World = {
    reg,
    fx,
    dynamo,
    table,
    config,
    directory: new AccountDirectory(config),
    key,
    publicKeyPem,
    sts,
    stsClient,
    ecr,
    ecrBuilt: [],
    denied,
    topics,
    reverifyQueueUrl: reverifyQueueUrl!,
    sets,
    stop: async () => {
      await reg.stop();
      await fx.stop();
      await dynamo.stop();
    },
  };
  return world;
}

/** What ECR lists: repository pages (in order) and each repository's image pages. */
export interface Listing {
  repositoryPages: string[][];
  images: Record<string, ImageDetail[][]>;
}

/** ECR's DescribeRepositories/DescribeImages for `account`, paginated as `listing` says, tokens `repos-N` and `<repo>#N`. */
export function serveListing(world: World, account: string, listing: Listing, opts: { throttleFirstImagesCall?: boolean } = {}): void {
  const { mock } = world.ecr.get(account)!;
  mock.on(DescribeRepositoriesCommand).callsFake((input: DescribeRepositoriesCommandInput) => {
    const page = input.nextToken ? Number(input.nextToken.replace('repos-', '')) : 0;
    const names = listing.repositoryPages[page] ?? [];
    const next = page + 1 < listing.repositoryPages.length ? { nextToken: `repos-${page + 1}` } : {};
    return { repositories: names.map((repositoryName) => ({ repositoryName, registryId: account })), ...next };
  });
  let throttle = opts.throttleFirstImagesCall ?? false;
  mock.on(DescribeImagesCommand).callsFake((input: DescribeImagesCommandInput) => {
    if (throttle) {
      throttle = false;
      throw new ECRServiceException({ name: 'ThrottlingException', $fault: 'client', message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } });
    }
    const pages = listing.images[input.repositoryName ?? ''] ?? [[]];
    const page = input.nextToken ? Number(input.nextToken.split('#')[1]) : 0;
    const next = page + 1 < pages.length ? { nextToken: `${input.repositoryName}#${page + 1}` } : {};
    return { imageDetails: pages[page] ?? [], ...next };
  });
}

export function detail(repository: string, image: BuiltManifest, tags: string[], pushedAt = new Date(TEST_EPOCH)): ImageDetail {
  return { repositoryName: repository, imageDigest: image.digest, imageTags: tags, imagePushedAt: pushedAt, imageManifestMediaType: image.mediaType };
}

/** Pushes an image to the account's repository (stored in the local registry as `<account>/<repository>`). */
export async function push(world: World, account: string, repository: string, image: BuiltManifest, tag: string): Promise<void> {
  await pushManifest(world.reg, `${account}/${repository}`, tag, image);
}

/** `cosign sign --key` as the pipeline sees it: the signature names the ECR image. */
export async function sign(world: World, account: string, repository: string, image: BuiltManifest): Promise<BuiltManifest> {
  return signImageWithKey(world.reg, `${account}/${repository}`, image, world.key, { dockerReference: `${ecrHost(account, REGION)}/${repository}` });
}

export function image(seed: string): BuiltManifest {
  return buildImage({ seed });
}

/** The on-push composition, as central.ts will provide it, over the test's registry and mocks. */
export function testVerify(world: World, sessions: AwsSessions): VerifyOwnedImage {
  const registry = new RegistryClient({ now: testNow, insecureHosts: [world.reg.host] });
  const ecrCredentials = new EcrCredentialProvider({
    now: testNow,
    clientFor: async (account) => {
      const r = world.directory.resolve({ account, region: REGION, repository: account === PAYMENTS ? 'payments/x' : 'retail/x' });
      assert.ok(r.known);
      return ecrClientFor(world, REGION, await sessions.credentialsFor(r.association, r.account));
    },
  });
  const trustRootResolver = testTrustRoots();
  return async (img) => {
    const r = world.directory.resolve(img);
    if (!r.known) return { verdict: { error: r.reason }, topicArn: world.config.operators.topicArn, policySetVersion: '' };
    const set = world.sets[r.group.path]!;
    const host = ecrHost(img.account, img.region);
    const verdict = await verifyImage(
      parseImageTarget(`${host}/${img.repository}@${img.digest}`),
      (name, literal) => policiesMatching(set, name, { literal }),
      {
        // The image's ECR name, served by the local registry under the account's folder, with the ECR token as password.
        registry: (ref) =>
          registry.repository({ registry: world.reg.host, repository: `${img.account}/${ref.repository}` }, () => ecrCredentials.lookup(host, ref.repository)),
        trustRoots: set.trustRoots,
        trustRootResolver,
      },
    );
    return { verdict, ...(r.group.team ? { team: r.group.team } : {}), topicArn: r.group.topicArn, policySetVersion: 'set-1' };
  };
}

/** The ECR client for an account's assumed credentials (recorded, so tests can assert which credentials were used). */
export function ecrClientFor(world: World, region: string, credentials: AwsCredentials): ECRClient {
  const account = credentials.accessKeyId.replace('ASIA', '');
  world.ecrBuilt.push({ account, region, accessKeyId: credentials.accessKeyId, sessionToken: credentials.sessionToken });
  const entry = world.ecr.get(account);
  assert.ok(entry, `no ECR client for credentials of ${account}`);
  return entry.client;
}

export interface Wiring {
  planner: PlannerDeps;
  worker: WorkerDeps;
  queue: SqsQueue;
  ledger: RunLedger;
  verdicts: VerdictStore;
  logs: LogEntry[];
  completed: RunState[];
}

/** The planner's and worker's dependencies over the world: what the handlers assemble from the environment. */
export function wire(world: World, opts: { remainingMs?: () => number; sessions?: AwsSessions } = {}): Wiring {
  const sessions =
    opts.sessions ??
    new AwsSessions({
      sts: world.stsClient,
      sourceIdentity: 'sigwatch',
      externalId: async () => assert.fail('inline ExternalIds only'),
      durationSeconds: 900,
      now: testNow,
    });
  const logs: LogEntry[] = [];
  const log = recordingLogger(logs);
  const ledger = new RunLedger(world.dynamo.client, world.table, { now: testNow });
  const verdicts = new VerdictStore(world.dynamo.client, world.table, { now: testNow });
  const topics = new SnsTopics(world.fx.sns, { sleep: async () => {} });
  const queue = new SqsQueue(world.fx.sqs, world.reverifyQueueUrl, { sleep: async () => {} });
  const completed: RunState[] = [];
  const complete = async (state: RunState) => {
    if (await publishRunSummaries(state, { ledger, topics, operatorsTopicArn: world.config.operators.topicArn, log, now: testNow })) completed.push(state);
  };
  const planner: PlannerDeps = {
    config: world.config,
    credentials: (association, account) => sessions.credentialsFor(association, account),
    ecr: (region, credentials) => ecrClientFor(world, region, credentials),
    globsFor: async (group) => (world.sets[group]?.policies ?? []).flatMap((p) => p.spec.images.map((i) => i.glob)),
    queue,
    ledger,
    reportFailure: failureReporter(topics, world.config.operators.topicArn, testNow),
    complete,
    remainingMs: opts.remainingMs ?? (() => 900_000),
    log,
    retry: { sleep: async () => {} },
    now: testNow,
  };
  const worker: WorkerDeps = { verify: testVerify(world, sessions), verdicts, topics, ledger, complete, log, now: testNow };
  return { planner, worker, queue, ledger, verdicts, logs, completed };
}

/** Receives and handles the reverify queue's messages, as the worker function would, until it is empty. */
export async function pump(world: World, w: Wiring): Promise<{ handled: Message[] }> {
  const handled: Message[] = [];
  for (;;) {
    const { Messages = [] } = await world.fx.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: world.reverifyQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    if (Messages.length === 0) return { handled };
    const { failedMessageIds } = await processReverifyRecords(
      Messages.map((m) => ({ messageId: m.MessageId!, body: m.Body! })),
      { worker: async () => w.worker, planner: async () => w.planner, log: recordingLogger(w.logs) },
    );
    assert.deepEqual(failedMessageIds, [], `failed records: ${JSON.stringify(w.logs.filter((l) => l.level === 'error'))}`);
    await world.fx.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: world.reverifyQueueUrl,
        Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
    handled.push(...Messages);
  }
}

/** Everything delivered to a subscriber so far (raw delivery: bodies and attributes as published). */
export async function drain(world: World, s: Subscriber): Promise<{ body: Record<string, unknown>; type?: string }[]> {
  const all: { body: Record<string, unknown>; type?: string }[] = [];
  for (;;) {
    const { Messages = [] } = await world.fx.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: s.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageAttributeNames: ['All'] }),
    );
    if (Messages.length === 0) return all;
    for (const m of Messages) {
      // Whatever sigwatch publishes, no credential, token or ExternalId is in it.
      assertNoSecrets(m.Body!, `a message on ${s.topicArn}`);
      const type = m.MessageAttributes?.type?.StringValue;
      all.push({ body: JSON.parse(m.Body!) as Record<string, unknown>, ...(type ? { type } : {}) });
    }
    await world.fx.sqs.send(
      new DeleteMessageBatchCommand({ QueueUrl: s.url, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }),
    );
  }
}
