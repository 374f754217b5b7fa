import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { reasonOf, SigwatchError } from '../errors.ts';
import { jsonLogger, type Logger } from '../observability/log.ts';
import type { GcpEndpoints } from '../accounts/gcp-federation.ts';
import { gcpFederations, sessionsPerDuration, type AwsClients } from '../pipeline/assemble.ts';
import { CentralVerifier } from '../pipeline/central.ts';
import type { Environment } from '../pipeline/environment.ts';
import type { BatchVerifier } from '../pipeline/image-check.ts';
import { RegistryClient } from '../registry/client.ts';
import { S3ConfigSource, type LoadedConfig } from '../store/config-object.ts';
import { GroupPolicies } from '../store/group-policies.ts';
import { s3PrefixReader } from '../store/s3.ts';
import { VerdictStore } from '../store/verdicts.ts';
import type { PlannerDeps } from './planner.ts';
import { PolicyIndex, type PolicyChangeDeps } from './policy-change.ts';
import { SqsQueue } from './queue.ts';
import { RunLedger, type RunState } from './run-ledger.ts';
import { ecrHost } from '../registry/providers/ecr-names.ts';
import { failureReporter, publishRunSummaries } from './summary.ts';
import { reportRun } from './report-step.ts';
import { RunHistory } from '../report/history.ts';
import { emf } from './metrics.ts';
import { SnsTopics } from './topics.ts';
import type { VerifyOwnedImage, WorkerDeps } from './worker.ts';
import type { Clock } from '../clock.ts';

/**
 * The re-verification functions assembled from their environment and AWS
 * clients, as src/pipeline/assemble.ts does for on-push: the same
 * configuration source, group policies, member-account sessions and
 * CentralVerifier, so that a re-verified image is judged exactly as a pushed one.
 */

/** Where run reports go in the config bucket unless SIGWATCH_REPORTS_PREFIX says otherwise. */
const DEFAULT_REPORTS_PREFIX = 'reports/';

export interface ReverifyAssembleOptions {
  functionName: string;
  /** Registry host → host to connect to (tests point ECR hosts at a local registry). */
  endpoint?: (host: string) => string;
  registry?: RegistryClient;
  write?: (line: string) => void;
  now: Clock;
  /** Google's endpoints (tests point them at 127.0.0.1). */
  gcp?: GcpEndpoints;
}

export interface ReverifyRuntime {
  log: Logger;
  /** The composition's clock. */
  now: Clock;
  config(): Promise<LoadedConfig>;
  /** The planner's dependencies for one invocation (`remainingMs`: the Lambda context's). */
  planner(remainingMs: () => number): Promise<PlannerDeps>;
  /** The worker's dependencies for one invocation: configuration and policies read once. */
  worker(): Promise<WorkerDeps>;
  policyChange(remainingMs: () => number): Promise<PolicyChangeDeps>;
}

export function assembleReverify(env: Environment, clients: AwsClients, opts: ReverifyAssembleOptions): ReverifyRuntime {
  if (!env.table) throw new SigwatchError('CONFIG', 'environment: SIGWATCH_TABLE: missing (a DynamoDB table name)');
  const table = env.table;
  const now = opts.now;
  const write = opts.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const log = jsonLogger({ write, level: env.logLevel, fields: { function: opts.functionName }, now });
  const configSource = new S3ConfigSource(clients.s3, env.configBucket, env.configKey);
  const policies = new GroupPolicies(s3PrefixReader(clients.s3, env.configBucket));
  const sessionsFor = sessionsPerDuration(clients, env.sourceIdentity, now);
  const verifier = new CentralVerifier({
    config: configSource,
    policies,
    sessions: sessionsFor,
    ecrClient: clients.ecr,
    kmsClient: clients.kms,
    kmsEndpoints: env.kmsEndpoints,
    secrets: clients.secrets,
    registry: opts.registry ?? new RegistryClient({ now }),
    ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
    gcp: gcpFederations(clients.sts, now, opts.gcp),
    now,
  });
  const ledger = new RunLedger(clients.dynamo, table, { now });
  const verdicts = new VerdictStore(clients.dynamo, table, { now });
  const topics = new SnsTopics(clients.sns);
  const queue = () => {
    if (!env.reverifyQueueUrl) throw new SigwatchError('CONFIG', 'environment: SIGWATCH_REVERIFY_QUEUE_URL: missing (an SQS queue URL)');
    return new SqsQueue(clients.sqs, env.reverifyQueueUrl);
  };
  const history = new RunHistory(clients.dynamo, table, { now });
  const completer = (operatorsTopicArn: string) => async (state: RunState) => {
    if (!(await publishRunSummaries(state, { ledger, topics, operatorsTopicArn, log, now }))) return;
    // The summaries are out: a failed report must not fail (and so republish) them. It is logged, and the next run writes a new one.
    try {
      const loaded = await configSource.load();
      const sessions = sessionsFor(loaded.config);
      await reportRun(state, {
        verdicts,
        history,
        config: loaded.config,
        directory: loaded.directory,
        s3: clients.s3,
        bucket: env.configBucket,
        prefix: env.reportsPrefix ?? DEFAULT_REPORTS_PREFIX,
        securityHub: async (region, credentials) => {
          if (!clients.securityHub) throw new SigwatchError('CONFIG', 'securityHub is enabled, but this composition has no Security Hub client');
          return clients.securityHub(region, credentials);
        },
        credentials: (association, account) => sessions.credentialsFor(association, account),
        log,
        now,
      });
    } catch (err) {
      log.error('posture report failed', emf(opts.functionName, { reportFailed: 1 }, { runId: state.runId, reason: reasonOf(err) }, now()));
    }
  };

  const planner = async (remainingMs: () => number): Promise<PlannerDeps> => {
    const loaded = await configSource.load();
    const groupSets = policies.scope(loaded.directory);
    const sessions = sessionsFor(loaded.config);
    return {
      config: loaded.config,
      credentials: (association, account) => sessions.credentialsFor(association, account),
      ecr: (region, credentials) => clients.ecr(region, credentials, { fips: false }),
      globsFor: async (group) => (await groupSets(group)).set.policies.flatMap((p) => p.spec.images.map((i) => i.glob)),
      queue: queue(),
      ledger,
      reportFailure: failureReporter(topics, loaded.config.operators.topicArn, now),
      complete: completer(loaded.config.operators.topicArn),
      remainingMs,
      log,
      now,
    };
  };

  return {
    log,
    now,
    config: () => configSource.load(),
    planner,
    worker: async () => {
      const batch = await verifier.beginBatch();
      return {
        verify: verifyThroughCentral(batch),
        verdicts,
        topics,
        ledger,
        complete: completer(batch.operatorsTopicArn),
        log,
        now,
        errorRuns: env.errorRuns,
      };
    },
    policyChange: async (remainingMs) => {
      const p = await planner(remainingMs);
      const loaded = await configSource.load();
      return {
        config: loaded.config,
        directory: loaded.directory,
        bucket: env.configBucket,
        readObject: (key) => readObjectText(clients.s3, env.configBucket, key),
        index: new PolicyIndex(clients.dynamo, table),
        planner: p,
      };
    },
  };
}

/**
 * The on-push verifier's answer, as the worker wants it: a verdict for the
 * owning team, or an error (a role that refuses sigwatch, invalid policies)
 * for the team, or for the operators when no association owns the image any more.
 */
export function verifyThroughCentral(batch: BatchVerifier): VerifyOwnedImage {
  return async (image, _trigger, signal) => {
    const check = await batch.check({ ...image, registry: ecrHost(image.account, image.region) }, signal);
    if (check.kind === 'verdict') {
      return {
        verdict: check.verdict,
        ...(check.audience.team !== undefined ? { team: check.audience.team } : {}),
        topicArn: check.audience.topicArn,
        policySetVersion: check.policySetVersion,
      };
    }
    if (check.kind === 'error') {
      return {
        verdict: { error: check.reason, ...(check.code ? { code: check.code } : {}) },
        ...(check.audience.team !== undefined ? { team: check.audience.team } : {}),
        topicArn: check.audience.topicArn,
        policySetVersion: '',
      };
    }
    return { verdict: { error: check.reason }, topicArn: batch.operatorsTopicArn, policySetVersion: '' };
  };
}

/** An object's text; undefined when it does not exist (deleted again since the event). */
async function readObjectText(s3: S3Client, bucket: string, key: string): Promise<string | undefined> {
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await res.Body?.transformToString('utf8');
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return undefined;
    throw new SigwatchError('CONFIG', `s3://${bucket}/${key}: cannot read the changed policy (${e.name ?? 'Error'})`);
  }
}
