/**
 * The on-push scenario shared by the pipeline tests (test/pipeline/on-push.test.ts) and
 * the pipeline fault matrix (test/e2e/faults-pipeline.test.ts): the real handler,
 * assembled as deployed, with SNS/SQS on fauxqs, DynamoDB on dynalite, S3 on
 * s3rver, a docker-registry standing in for ECR behind the password that the
 * mocked GetAuthorizationToken hands out, and STS, ECR's API and Secrets
 * Manager mocked; a configuration of two teams of one organisation, their
 * policies, and signed and unsigned images.
 */
import { testNow } from './clock.ts';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { KMSClient } from '@aws-sdk/client-kms';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { onPushHandler } from '../../functions/on-push/handler.ts';
import type { Notification } from '../../src/notify/notification.ts';
import { assembleOnPush, type AssembleOptions, type AwsClients } from '../../src/pipeline/assemble.ts';
import { readEnvironment } from '../../src/pipeline/environment.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import {
  buildImage,
  buildIndex,
  generateKeyPair,
  keyPolicyYaml,
  kmsPolicyYaml,
  pushManifest,
  signImageWithKey,
  startRegistry,
  staticPolicyYaml,
  type BuiltManifest,
  type TestRegistry,
} from './index.ts';
import { startDynamo, type TestDynamo } from './dynamodb.ts';
import { ecrImageAction } from './events.ts';
import { startTestFauxqs, type TestFauxqs } from './fauxqs.ts';
import { startS3, testS3Client, type TestS3 } from './s3.ts';
import { startRecordingFront, type RecordingFront } from './recording-proxy.ts';

export { PAYMENTS, RETAIL, STRANGER, REGION } from './accounts.ts';
import { PAYMENTS, RETAIL, REGION } from './accounts.ts';
export const BUCKET = 'sigwatch-config';
export const EXTERNAL_ID_SECRET = 'arn:aws:secretsmanager:eu-west-1:999999999999:secret:sigwatch/external-id-AbCdEf';
export const EXTERNAL_ID = 'ext-id-4f1d9c2b7a';
export const ECR_PASSWORD = 'ecr-password-7d41be';
export const EVENT_TIME = Date.parse('2026-11-23T10:00:00Z');
export const GRACE_SECONDS = 600;
/** The key acme's policy requires. */
export const releaseKey = generateKeyPair();
export const kmsKey = generateKeyPair();
export const KMS_KEY_ARN = `arn:aws:kms:eu-west-1:${PAYMENTS}:key/0b6a4d0e-2c8f-4c11-9d3e-7a1b2c3d4e5f`;

export const ecrHost = (account: string) => `${account}.dkr.ecr.${REGION}.amazonaws.com`;

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

export interface Servers {
  reg: TestRegistry;
  /**
   * With `start({ tls: true })`: the registry serves HTTPS, as ECR does, and the
   * handlers reach it through this recording front (what each request carried, how it was answered).
   */
  front?: RecordingFront;
  s3: TestS3;
  fx: TestFauxqs;
  dynamo: TestDynamo;
  pushQueue: { url: string; arn: string };
  /** What each team's subscription received (filtered as the team asked). */
  inbox: Record<'operators' | 'payments' | 'paymentsDenies' | 'retail', { url: string; arn: string }>;
  topics: { operators: string; acme: string; payments: string; retail: string };
}

export interface HandlerOptions {
  grace?: number;
  /** Replace a client (a fault test wraps one to make it fail). */
  clients?: Partial<AwsClients>;
  /** More plain-HTTP hosts, reached as themselves rather than as the ECR stand-in (a hanging signature source). */
  otherHosts?: string[];
  /** Kept back from the invocation's remaining time (the handler's default otherwise). */
  publishMarginMs?: number;
  /** More of the function's environment (SIGWATCH_KMS_ENDPOINTS…). */
  env?: Record<string, string>;
  /** How the verification code is loaded (a test makes its chunk fail to load). */
  loadVerification?: AssembleOptions['loadVerification'];
}

export class OnPushScenario {
  readonly servers: Servers;
  readonly images: Record<string, BuiltManifest>;
  /** The clock every handler of the scenario reads; tests move it. */
  now = EVENT_TIME + (GRACE_SECONDS + 1) * 1000;
  logs: string[] = [];
  table = '';
  sts!: AwsClientStub<STSClient>;
  ecr!: AwsClientStub<ECRClient>;
  secrets!: AwsClientStub<SecretsManagerClient>;

  private constructor(servers: Servers, images: Record<string, BuiltManifest>) {
    this.servers = servers;
    this.images = images;
  }

  static async start(opts: { tls?: boolean } = {}): Promise<OnPushScenario> {
    const [reg, s3, fx, dynamo] = await Promise.all([
      startRegistry({ auth: { username: 'AWS', password: ECR_PASSWORD }, tls: opts.tls }),
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
    const topics = {
      operators: await topic('sigwatch-operators'),
      acme: await topic('sigwatch-acme'),
      payments: await topic('sigwatch-payments'),
      retail: await topic('sigwatch-retail'),
    };
    const inbox = {
      operators: await queue('operators'),
      payments: await queue('payments'),
      paymentsDenies: await queue('payments-denies'),
      retail: await queue('retail'),
    };
    const subscribe = (topicArn: string, q: { arn: string }, filter?: object) =>
      fx.sns.send(
        new SubscribeCommand({
          TopicArn: topicArn,
          Protocol: 'sqs',
          Endpoint: q.arn,
          Attributes: { RawMessageDelivery: 'true', ...(filter ? { FilterPolicy: JSON.stringify(filter) } : {}) },
        }),
      );
    await subscribe(topics.operators, inbox.operators);
    await subscribe(topics.payments, inbox.payments);
    // A second subscriber that wants only the denies of its own team.
    await subscribe(topics.payments, inbox.paymentsDenies, { team: ['payments'], verdict: ['deny'] });
    await subscribe(topics.retail, inbox.retail);
    const servers: Servers = { reg, s3, fx, dynamo, pushQueue: await queue('sigwatch-push'), inbox, topics };
    if (opts.tls) servers.front = await startRecordingFront(reg.url);

    await s3.bucket(BUCKET);
    await s3.put(BUCKET, 'config/sigwatch.yaml', configYaml(topics));
    // acme's policy applies to both teams; payments' own policies only to payments.
    await s3.put(BUCKET, 'policies/acme/require-release-key.yaml', keyPolicyYaml('require-release-key', '**', releaseKey.publicKeyPem));
    // A KMS key of the payments account, for one repository: read through that account's role.
    await s3.put(BUCKET, 'policies/acme/payments/kms-signed.yaml', kmsPolicyYaml('kms-signed', '**/team/kms*', `awskms:///${KMS_KEY_ARN}`, 'kms-key'));
    // Globs cover the digest too: `*` runs over `@sha256:…`.
    await s3.put(BUCKET, 'policies/acme/payments/no-blocked.yaml', staticPolicyYaml('no-blocked', '**/team/blocked*').replace('action: pass', 'action: fail'));

    const images: Record<string, BuiltManifest> = {
      signed: buildImage({ seed: 'on-push-signed' }),
      unsigned: buildImage({ seed: 'on-push-unsigned' }),
      late: buildImage({ seed: 'on-push-late' }),
      revoked: buildImage({ seed: 'on-push-revoked' }),
      blocked: buildImage({ seed: 'on-push-blocked' }),
      kms: buildImage({ seed: 'on-push-kms' }),
      gone: buildImage({ seed: 'on-push-gone' }),
      index: buildIndex([
        buildImage({ seed: 'on-push-multi', platform: { os: 'linux', architecture: 'amd64' } }),
        buildImage({ seed: 'on-push-multi', platform: { os: 'linux', architecture: 'arm64' } }),
      ]),
    };
    const repositoryOf = (tag: string) => (tag === 'blocked' ? 'team/blocked' : tag === 'kms' ? 'team/kms' : 'team/app');
    for (const [tag, image] of Object.entries(images)) await pushManifest(reg, repositoryOf(tag), tag, image);
    await signImageWithKey(reg, 'team/kms', images.kms!, kmsKey.privateKey);
    for (const name of ['signed', 'revoked', 'index', 'gone'] as const) await signImageWithKey(reg, 'team/app', images[name]!, releaseKey.privateKey);
    await signImageWithKey(reg, 'team/blocked', images.blocked!, releaseKey.privateKey);
    return new OnPushScenario(servers, images);
  }

  /** A fresh table, clock, log and AWS mocks, and empty queues: each test starts from the same state. */
  async reset(): Promise<void> {
    this.now = EVENT_TIME + (GRACE_SECONDS + 1) * 1000;
    this.logs = [];
    this.table = await this.servers.dynamo.table();
    this.restoreMocks();
    this.sts = mockClient(STSClient);
    this.ecr = mockClient(ECRClient);
    this.secrets = mockClient(SecretsManagerClient);
    this.sts.on(AssumeRoleCommand).callsFake((input: { RoleArn: string }) => this.assumeRoleAnswer(input));
    this.ecr.on(GetAuthorizationTokenCommand).resolves({
      authorizationData: [{ authorizationToken: Buffer.from(`AWS:${ECR_PASSWORD}`).toString('base64'), expiresAt: new Date(this.now + 12 * 3600_000) }],
    });
    this.secrets.on(GetSecretValueCommand, { SecretId: EXTERNAL_ID_SECRET }).resolves({ SecretString: EXTERNAL_ID });
    for (const q of [...Object.values(this.servers.inbox), this.servers.pushQueue]) await this.drain(q.url);
  }

  /** What the mocked STS answers: a 30-minute session whose key id names the account. */
  assumeRoleAnswer(input: { RoleArn: string }) {
    return {
      Credentials: {
        AccessKeyId: `ASIA${input.RoleArn.slice(13, 25)}`,
        SecretAccessKey: 'member-secret',
        SessionToken: 'member-session-token',
        Expiration: new Date(this.now + 1800_000),
      },
    };
  }

  /** The deployed handler, assembled with this scenario's servers and mocks (one per simulated Lambda instance). */
  handler(opts: HandlerOptions = {}): (event: SQSEvent, context?: { getRemainingTimeInMillis(): number }) => Promise<SQSBatchResponse> {
    const { servers: sc } = this;
    const env = readEnvironment({
      SIGWATCH_CONFIG_BUCKET: BUCKET,
      SIGWATCH_TABLE: this.table,
      SIGWATCH_PUSH_QUEUE_URL: `https://sqs.${REGION}.amazonaws.com/000000000000/sigwatch-push`,
      SIGWATCH_GRACE_SECONDS: String(opts.grace ?? GRACE_SECONDS),
      ...opts.env,
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
      ...opts.clients,
    };
    const others = new Set(opts.otherHosts ?? []);
    // Over TLS the stand-in is reached as ECR is, over HTTPS; otherwise it is named insecure.
    const standIn = sc.front?.host ?? sc.reg.host;
    const deps = assembleOnPush({ ...env, pushQueueUrl: sc.pushQueue.url }, clients, {
      endpoint: (host) => (others.has(host) ? host : standIn),
      registry: new RegistryClient({ now: testNow, insecureHosts: [...(sc.front ? [] : [sc.reg.host]), ...others] }),
      write: (line) => void this.logs.push(line),
      now: () => this.now,
      ...(opts.loadVerification ? { loadVerification: opts.loadVerification } : {}),
    });
    return onPushHandler(deps, opts.publishMarginMs === undefined ? {} : { publishMarginMs: opts.publishMarginMs });
  }

  /** An ECR Image Action of `account`, stamped at EVENT_TIME. */
  event(id: string, account: string, detail: Record<string, string>) {
    return { ...ecrImageAction(id, detail), account, time: new Date(EVENT_TIME).toISOString().replace('.000Z', 'Z') };
  }

  batch(...records: { id: string; body: unknown; receiveCount?: number }[]): SQSEvent {
    return {
      Records: records.map((r) => ({
        messageId: r.id,
        body: typeof r.body === 'string' ? r.body : JSON.stringify(r.body),
        attributes: { ApproximateReceiveCount: String(r.receiveCount ?? 1) },
        eventSource: 'aws:sqs',
      })),
    } as unknown as SQSEvent;
  }

  async drain(url: string): Promise<Message[]> {
    const all: Message[] = [];
    for (;;) {
      const { Messages = [] } = await this.servers.fx.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageAttributeNames: ['All'] }),
      );
      if (Messages.length === 0) return all;
      all.push(...Messages);
    }
  }

  /** What a team's subscription received since the last call. */
  async received(inbox: keyof Servers['inbox']): Promise<Notification[]> {
    return (await this.drain(this.servers.inbox[inbox].url)).map((m) => JSON.parse(m.Body!) as Notification);
  }

  restoreMocks(): void {
    this.sts?.restore();
    this.ecr?.restore();
    this.secrets?.restore();
  }

  async stop(): Promise<void> {
    this.restoreMocks();
    const { reg, front, s3, fx, dynamo } = this.servers;
    await front?.close();
    await Promise.all([reg.stop(), s3.stop(), fx.stop(), dynamo.stop()]);
  }
}
