import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECRClient } from '@aws-sdk/client-ecr';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { STSClient } from '@aws-sdk/client-sts';
import { callerIdentitySigner } from '../accounts/caller-identity-signer.ts';
import { GcpFederations, type GcpEndpoints } from '../accounts/gcp-federation.ts';
import { AwsSessions, type AwsCredentials, type ExternalIdResolver } from '../accounts/sts.ts';
import type { SigwatchConfig } from '../accounts/types.ts';
import { SigwatchError } from '../errors.ts';
import { recheckBody } from '../events/envelope.ts';
import { SnsNotifier } from '../notify/sns.ts';
import { jsonLogger, type Logger } from '../observability/log.ts';
import { EmfMetrics, type Metrics } from '../observability/metrics.ts';
import { RegistryClient } from '../registry/client.ts';
import { S3ConfigSource } from '../store/config-object.ts';
import { GroupPolicies } from '../store/group-policies.ts';
import { DynamoIdempotencyStore } from '../store/idempotency.ts';
import { VerdictStore } from '../store/verdicts.ts';
import { s3PrefixReader } from '../store/s3.ts';
import { CentralVerifier, type CentralVerifierDeps } from './central.ts';
import type { Environment } from './environment.ts';
import type { OnPushDeps, RecheckScheduler } from './on-push.ts';
import type { Clock } from '../clock.ts';

/**
 * Builds the on-push pipeline of a deployed function from its environment and
 * AWS clients. Tests build it with clients pointed at local protocol servers
 * (s3rver, fauxqs, dynalite) and mocked STS/ECR, and a registry endpoint
 * override; the deployed handler with the SDK's defaults.
 */

export interface AwsClients {
  s3: S3Client;
  sns: SNSClient;
  sqs: SQSClient;
  dynamo: DynamoDBClient;
  sts: STSClient;
  secrets: SecretsManagerClient;
  ecr: (region: string, credentials: AwsCredentials, options: { fips: boolean }) => ECRClient;
  /** Loaded on first use: few policies name KMS keys, and its SDK client is 60 KiB of every cold start. */
  kms: (region: string, credentials: AwsCredentials | undefined, endpoint?: string) => KMSClient | Promise<KMSClient>;
  /** Member accounts' Security Hub (posture findings, only when enabled): loaded on first use, like KMS. */
  securityHub?: (region: string, credentials: AwsCredentials) => SecurityHubClient | Promise<SecurityHubClient>;
}

/**
 * Bounds on every AWS call's connection and answer. The SDK sets none, and the
 * calls sessions, tokens and keys are fetched with are shared by the records
 * of a batch (and cached): records race them against their own deadlines, but
 * one that never settled would hold its cache entry until the next cold start.
 */
export function sdkHttpOptions(requestTimeoutMs = 10_000): {
  requestHandler: { connectionTimeout: number; requestTimeout: number; throwOnRequestTimeout: true };
} {
  // Without throwOnRequestTimeout the SDK only logs a warning and keeps waiting.
  return { requestHandler: { connectionTimeout: Math.min(3_000, requestTimeoutMs), requestTimeout: requestTimeoutMs, throwOnRequestTimeout: true } };
}

/** The SDK's defaults: the function's role and region. Member-account clients are cached per region and credentials. */
export function defaultClients(): AwsClients {
  const http = sdkHttpOptions();
  const perCredentials = <C>(make: (region: string, credentials: AwsCredentials | undefined, fips: boolean, endpoint?: string) => C) => {
    const cache = new Map<string, { credentials: AwsCredentials | undefined; client: C }>();
    return (region: string, credentials: AwsCredentials | undefined, fips = false, endpoint?: string): C => {
      const key = `${region}|${fips}|${credentials?.accessKeyId ?? 'self'}|${endpoint ?? ''}`;
      const hit = cache.get(key);
      if (hit && hit.credentials === credentials) return hit.client;
      const client = make(region, credentials, fips, endpoint);
      // Old sessions' clients are dropped; a few dozen accounts is the working set.
      if (cache.size > 200) cache.clear();
      cache.set(key, { credentials, client });
      return client;
    };
  };
  const ecr = perCredentials((region, credentials, fips) => new ECRClient({ region, credentials, useFipsEndpoint: fips, ...http }));
  let kmsModule: Promise<typeof import('@aws-sdk/client-kms')> | undefined;
  // An endpoint is only ever one the KMS resolver allowed (AWS's own, or the operator's SIGWATCH_KMS_ENDPOINTS).
  const kms = perCredentials(
    async (region, credentials, _fips, endpoint) =>
      new (await (kmsModule ??= import('@aws-sdk/client-kms'))).KMSClient({
        region,
        credentials,
        ...(endpoint ? { endpoint: `https://${endpoint}` } : {}),
        ...http,
      }),
  );
  // Through the findings module, so that the whole Security Hub SDK is one chunk, loaded only when securityHub is enabled.
  let hubModule: Promise<typeof import('../report/security-hub.ts')> | undefined;
  const securityHub = perCredentials(async (region, credentials) =>
    (await (hubModule ??= import('../report/security-hub.ts'))).securityHubClient(region, credentials!, http),
  );
  return {
    s3: new S3Client({ followRegionRedirects: true, ...http }),
    sns: new SNSClient({ ...http }),
    sqs: new SQSClient({ ...http }),
    dynamo: new DynamoDBClient({ ...http }),
    sts: new STSClient({ ...http }),
    secrets: new SecretsManagerClient({ ...http }),
    ecr: (region, credentials, { fips }) => ecr(region, credentials, fips),
    kms: (region, credentials, endpoint) => kms(region, credentials, false, endpoint),
    securityHub: (region, credentials) => securityHub(region, credentials),
  };
}

export interface AssembleOptions {
  /** Registry host → host to connect to (tests point ECR hosts at a local registry). */
  endpoint?: (host: string) => string;
  registry?: RegistryClient;
  write?: (line: string) => void;
  /** The composition's one clock (the handler's entry point passes the wall clock). */
  now: Clock;
  functionName?: string;
  /** Google's endpoints (tests point them at 127.0.0.1). */
  gcp?: GcpEndpoints;
  /** How the verification code is loaded (tests make the import fail); a dynamic import by default. */
  loadVerification?: CentralVerifierDeps['loadVerification'];
}

export function assembleOnPush(env: Environment, clients: AwsClients, opts: AssembleOptions): OnPushDeps & { metrics: Metrics; log: Logger } {
  if (!env.table) throw new SigwatchError('CONFIG', 'environment: SIGWATCH_TABLE: missing (a DynamoDB table name)');
  const write = opts.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const now = opts.now;
  const functionName = opts.functionName ?? 'on-push';
  const log = jsonLogger({ write, level: env.logLevel, fields: { function: functionName }, now });
  const metrics = new EmfMetrics({ write, dimensions: { function: functionName }, now });
  const sessionsFor = sessionsPerDuration(clients, env.sourceIdentity, now);
  const verifier = new CentralVerifier({
    config: new S3ConfigSource(clients.s3, env.configBucket, env.configKey),
    policies: new GroupPolicies(s3PrefixReader(clients.s3, env.configBucket)),
    sessions: sessionsFor,
    ecrClient: clients.ecr,
    kmsClient: clients.kms,
    kmsEndpoints: env.kmsEndpoints,
    secrets: clients.secrets,
    registry: opts.registry ?? new RegistryClient({ now }),
    endpoint: opts.endpoint,
    gcp: gcpFederations(clients.sts, now, opts.gcp),
    now,
    ...(opts.loadVerification ? { loadVerification: opts.loadVerification } : {}),
  });
  const queueUrl = env.pushQueueUrl;
  const recheck: RecheckScheduler | undefined = queueUrl
    ? async (raw, next, delaySeconds) => {
        await clients.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: recheckBody(raw, next), DelaySeconds: delaySeconds }));
      }
    : undefined;
  return {
    verifier,
    publisher: new SnsNotifier(clients.sns, () => {
      throw new SigwatchError('INTERNAL', 'on-push publishes to an explicit topic');
    }),
    idempotency: new DynamoIdempotencyStore({ client: clients.dynamo, table: env.table, now }),
    verdicts: new VerdictStore(clients.dynamo, env.table, { now }),
    ...(recheck ? { recheck } : {}),
    graceMs: env.graceSeconds * 1000,
    unverifiedAttempts: env.unverifiedAttempts,
    now,
    log,
    metrics,
  };
}

/**
 * Google identities for GCP associations, proven with the function's own AWS
 * credentials and region (those of its STS client): no Google key is stored.
 */
export function gcpFederations(sts: STSClient, now: Clock, endpoints?: GcpEndpoints): GcpFederations {
  return new GcpFederations(callerIdentitySigner({ region: () => sts.config.region(), credentials: sts.config.credentials, now }), now, endpoints);
}

/**
 * Member-account sessions for a configuration: one cache per configured
 * `sessionDurationSeconds` (the configuration sets it, and can change it), so
 * that every function reuses sessions across batches until the setting changes.
 */
export function sessionsPerDuration(clients: Pick<AwsClients, 'sts' | 'secrets'>, sourceIdentity: string, now: Clock): (config: SigwatchConfig) => AwsSessions {
  const externalId = externalIdFromSecrets(clients.secrets);
  let current: { durationSeconds: number; sessions: AwsSessions } | undefined;
  return (config) => {
    const durationSeconds = config.defaults.sessionDurationSeconds;
    if (current?.durationSeconds !== durationSeconds) {
      current = { durationSeconds, sessions: new AwsSessions({ sts: clients.sts, sourceIdentity, externalId, durationSeconds, now }) };
    }
    return current.sessions;
  };
}

/**
 * ExternalIds kept in Secrets Manager: the secret's string. Only the error's
 * name is reported: Secrets Manager messages may quote the ARN, never the
 * value, but nothing about a secret needs more than its name in a log.
 */
function externalIdFromSecrets(client: SecretsManagerClient): ExternalIdResolver {
  // SDK errors go through as they are: AwsSessions tells throttling (retry) from denial (report) by them.
  return async (secretArn) => (await client.send(new GetSecretValueCommand({ SecretId: secretArn }))).SecretString ?? '';
}
