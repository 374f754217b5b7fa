/**
 * A simulated daily re-verification of 100 000 images (BENCH_IMAGES to change
 * it): two member accounts, their ECR listing mocked (aws-sdk-client-mock, one
 * DescribeImages page of up to 1000 images per repository), the planner and
 * the worker as deployed (src/reverify), the reverify queue and the topics on
 * fauxqs, the verdict store and run ledger on dynalite, and a docker-registry
 * holding a representative sample of signed and unsigned images. Each listed
 * image stands for one of the sample (by its digest); its verification is
 * done for real once per sample image and policy-set version and reused after
 * that, so the figures are sigwatch's planning, fan-out, bookkeeping and
 * publishing at scale, plus the measured cost of one real verification.
 *
 * Prints images/s, AWS and registry calls per image, peak memory, and the
 * projected wall time and cost of the same run on Lambda.
 */
import { systemClock } from '../src/clock.ts';
import { jsonLogger } from '../src/observability/log.ts';
import { createHash } from 'node:crypto';
import { DescribeImagesCommand, DescribeRepositoriesCommand, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import type { ImageDetail } from '@aws-sdk/client-ecr';
import { AwsSessions } from '../src/accounts/sts.ts';
import { processReverifyRecords } from '../src/reverify/dispatch.ts';
import { planTargets, startRun } from '../src/reverify/planner.ts';
import type { VerifyOutcome } from '../src/reverify/worker.ts';
import { PAYMENTS, RETAIL, image, push, REGION, serveListing, sign, startWorld, testVerify, wire } from '../test/support/reverify.ts';

const IMAGES = Number(process.env.BENCH_IMAGES ?? 100_000);
const SAMPLE = 24;
const PER_REPOSITORY = 1000;
/** Lambdas the worker's event source mapping runs at once (its maximum concurrency). */
const WORKERS = Number(process.env.BENCH_WORKERS ?? 8);

let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);

const world = await startWorld();
try {
  // The sample: two thirds signed, the rest unsigned, in each account.
  const sample: { account: string; repository: string; digest: string }[] = [];
  for (const [account, repository] of [
    [PAYMENTS, 'payments/sample'],
    [RETAIL, 'retail/sample'],
  ] as const) {
    for (let i = 0; i < SAMPLE / 2; i++) {
      const m = image(`${account}-sample-${i}`);
      await push(world, account, repository, m, `s${i}`);
      if (i % 3 !== 2) await sign(world, account, repository, m);
      sample.push({ account, repository, digest: m.digest });
    }
  }

  // The listing: each account half of the images, in repositories of PER_REPOSITORY.
  const perAccount = Math.ceil(IMAGES / 2);
  for (const [account, prefix] of [
    [PAYMENTS, 'payments'],
    [RETAIL, 'retail'],
  ] as const) {
    const repos = Math.ceil(perAccount / PER_REPOSITORY);
    const names = Array.from({ length: repos }, (_, r) => `${prefix}/svc-${String(r).padStart(4, '0')}`);
    const images: Record<string, ImageDetail[][]> = {};
    names.forEach((name, r) => {
      const count = Math.min(PER_REPOSITORY, perAccount - r * PER_REPOSITORY);
      images[name] = [
        Array.from({ length: count }, (_, i) => ({
          repositoryName: name,
          imageDigest: fakeDigest(`${account}/${name}/${i}`),
          imageTags: [`build-${i}`],
          imagePushedAt: new Date(),
        })),
      ];
    });
    serveListing(world, account, { repositoryPages: [names], images });
  }

  const sessions = new AwsSessions({ sts: world.stsClient, sourceIdentity: 'sigwatch', externalId: async () => '', durationSeconds: 900, now: systemClock });
  const realVerify = testVerify(world, sessions);
  const cache = new Map<string, Promise<VerifyOutcome>>();
  const realMs: number[] = [];
  const w = wire(world, { sessions });
  w.worker.verify = async (img, trigger) => {
    // A listed image is one of the sample's, chosen by its digest; one real verification per sample image and policy set.
    const s = sample.filter((x) => x.account === img.account)[parseInt(img.digest.slice(7, 15), 16) % (SAMPLE / 2)]!;
    const key = `${s.digest}|set-1`;
    let outcome = cache.get(key);
    if (!outcome) {
      const started = performance.now();
      outcome = realVerify({ ...img, repository: s.repository, digest: s.digest }, trigger).then((o) => {
        realMs.push(performance.now() - started);
        return o;
      });
      cache.set(key, outcome);
    }
    return outcome;
  };

  const calls = { dynamo: new Map<string, number>(), sns: 0 };
  world.dynamo.client.middlewareStack.add(
    (next, ctx) => async (args) => {
      calls.dynamo.set(ctx.commandName ?? '?', (calls.dynamo.get(ctx.commandName ?? '?') ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize' },
  );
  world.fx.sns.middlewareStack.add(
    (next) => async (args) => {
      calls.sns++;
      return next(args);
    },
    { step: 'initialize' },
  );
  // As deployed: a visibility timeout well above a message's processing time, so no message is handled twice.
  await world.fx.sqs.send(new SetQueueAttributesCommand({ QueueUrl: world.reverifyQueueUrl, Attributes: { VisibilityTimeout: '600' } }));
  let receives = 0;
  const resetCounts = () => {
    receives = 0;
    calls.dynamo.clear();
    calls.sns = 0;
    w.queue.requests = 0;
    world.sts.resetHistory();
    for (const { mock } of world.ecr.values()) mock.resetHistory();
  };

  const runOnce = async (runId: string) => {
    const started = performance.now();
    const plan = await startRun(w.planner, { runId, trigger: 'reverify', targets: planTargets(world.config) });
    const planned = performance.now();
    // WORKERS consumers, as the event source mapping's concurrent Lambdas: each takes up to 10 messages.
    const consume = async () => {
      for (;;) {
        const { Messages = [] } = await world.fx.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: world.reverifyQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
        );
        receives++;
        if (Messages.length === 0) return;
        const { failedMessageIds } = await processReverifyRecords(
          Messages.map((m) => ({ messageId: m.MessageId!, body: m.Body! })),
          {
            worker: async () => w.worker,
            planner: async () => w.planner,
            log: jsonLogger({ write: () => {}, now: systemClock }),
          },
        );
        if (failedMessageIds.length > 0) throw new Error(`failed records: ${failedMessageIds.length}`);
        await world.fx.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: world.reverifyQueueUrl,
            Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
          }),
        );
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, consume));
    const finished = performance.now();
    const state = await w.ledger.state(runId);
    if (!state.complete || state.done !== plan.images) throw new Error(`run incomplete: ${JSON.stringify(state)}`);
    return { plan, started, planned, finished };
  };

  // The first run meets every image for the first time (its denies are news); the second is a day like any other.
  const first = await runOnce('bench-day-1');
  console.log(
    `first run (every verdict new): ${first.plan.images} images in ${((first.finished - first.started) / 1000).toFixed(2)} s, ${calls.sns} SNS messages`,
  );
  resetCounts();
  const { plan, started, planned, finished } = await runOnce('bench-day-2');
  clearInterval(sampler);

  // One real verification, uncached and one at a time, for the projection.
  const sequential: number[] = [];
  for (const s of sample) {
    const t0 = performance.now();
    await realVerify({ account: s.account, region: REGION, repository: s.repository, digest: s.digest, tags: [] }, 'reverify');
    sequential.push(performance.now() - t0);
  }
  const n = plan.images;
  const ecrCalls = [PAYMENTS, RETAIL].reduce(
    (acc, account) => {
      const mock = world.ecr.get(account)!.mock;
      acc.describeRepositories += mock.commandCalls(DescribeRepositoriesCommand).length;
      acc.describeImages += mock.commandCalls(DescribeImagesCommand).length;
      acc.getAuthorizationToken += mock.commandCalls(GetAuthorizationTokenCommand).length;
      return acc;
    },
    { describeRepositories: 0, describeImages: 0, getAuthorizationToken: 0 },
  );
  const dynamoTotal = [...calls.dynamo.values()].reduce((a, b) => a + b, 0);
  const sqsSend = w.queue.requests;
  const perImage = (x: number) => (x / n).toFixed(4);
  const realAvg = sequential.reduce((a, b) => a + b, 0) / sequential.length;
  const wallS = (finished - started) / 1000;

  console.log(`steady-state run: ${n} images in ${plan.messages} messages, ${WORKERS} concurrent workers`);
  console.log(`  planning: ${((planned - started) / 1000).toFixed(2)} s (${Math.round(n / ((planned - started) / 1000))} images/s listed and sent)`);
  console.log(`  whole run: ${wallS.toFixed(2)} s, ${Math.round(n / wallS)} images/s (verification cached per sample digest and policy set)`);
  console.log(
    `  real verifications: ${realMs.length} (one per sample image), then ${realAvg.toFixed(1)} ms each on average one at a time, warm (local registry, loopback)`,
  );
  console.log(`  peak RSS: ${(peakRss / 1024 / 1024).toFixed(0)} MiB (the process also runs dynalite, fauxqs and the mocks)`);
  console.log('  calls per image:');
  console.log(
    `    STS AssumeRole ${perImage(world.sts.commandCalls(AssumeRoleCommand).length)}, ECR DescribeRepositories ${perImage(ecrCalls.describeRepositories)}, DescribeImages ${perImage(ecrCalls.describeImages)}, GetAuthorizationToken ${perImage(ecrCalls.getAuthorizationToken)}`,
  );
  console.log(`    SQS SendMessageBatch ${perImage(sqsSend)}, ReceiveMessage ${perImage(receives)}`);
  console.log(
    `    DynamoDB ${perImage(dynamoTotal)} (${[...calls.dynamo.entries()].map(([k, v]) => `${k.replace('Command', '')} ${perImage(v)}`).join(', ')})`,
  );
  console.log(`    SNS Publish ${perImage(calls.sns)}`);

  // Projection for Lambda (arm64, us-east-1 list prices of 2025; see docs/reverify.md for the reasoning).
  const GB_S = 0.0000133334;
  const REQUEST = 0.2 / 1e6;
  const MEMORY_GB = 1;
  const registryRttMs = 15; // ECR in-region round trip, per registry request
  const registryRequests = 4; // manifest HEAD, signature tag, signature manifest, signature layer (referrers adds one)
  const perImageMs = Math.max(realAvg, 5) + registryRttMs * registryRequests;
  const perMessageS = (perImageMs * 50) / 4 / 1000; // 50 images a message, 4 at a time
  const workerGbS = (n / 50) * perMessageS * MEMORY_GB;
  const plannerGbS = ((ecrCalls.describeImages + ecrCalls.describeRepositories) * 0.08 + sqsSend * 0.02) * MEMORY_GB;
  const messages = plan.messages;
  const lambdaCost = (workerGbS + plannerGbS) * GB_S + (messages / 10 + 1) * REQUEST;
  // DynamoDB on-demand: a verdict item (< 1 KB) is one write unit and one consistent read unit. The run's
  // counters rewrite items that hold the ids of the batches already counted (about 19 bytes each): the
  // total item grows to 2 × messages ids, a team's to its share of them; each update costs its size in KB.
  const totalItemKb = (2 * messages * 19) / 1024;
  const ledgerWru = 2 * messages * Math.max(1, totalItemKb / 2) + messages * Math.max(1, totalItemKb / 8);
  const dynamoCost = (n + ledgerWru) * (0.625 / 1e6) + n * (0.125 / 1e6);
  const sqsCost = (sqsSend + messages / 10 + messages) * (0.4 / 1e6);
  const wall = (workers: number) => (messages * perMessageS) / workers + (planned - started) / 1000;
  console.log('  projection for a daily run on Lambda (1024 MB arm64, 50 images a message, 4 verified at once):');
  console.log(
    `    per image ~${perImageMs.toFixed(0)} ms (measured ${realAvg.toFixed(0)} ms + ${registryRequests} registry round trips of ${registryRttMs} ms)`,
  );
  console.log(
    `    worker compute ${workerGbS.toFixed(0)} GB-s; wall time ~${wall(20).toFixed(0)} s with 20 concurrent workers, ~${wall(5).toFixed(0)} s with 5`,
  );
  console.log(
    `    cost per run: Lambda $${lambdaCost.toFixed(3)}, DynamoDB $${dynamoCost.toFixed(3)} (${Math.round(ledgerWru)} WRU of run counters), SQS $${sqsCost.toFixed(4)}; per 30-day month $${((lambdaCost + dynamoCost + sqsCost) * 30).toFixed(2)}`,
  );
} finally {
  clearInterval(sampler);
  await world.stop();
}

function fakeDigest(seed: string): string {
  return `sha256:${createHash('sha256').update(seed).digest('hex')}`;
}
