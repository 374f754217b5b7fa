/**
 * A daily re-verification, for real, of IMAGES distinct images (6 000 by
 * default, BENCH_IMAGES to change it; five in six signed, so 5 000 signed):
 * two member accounts, their ECR listing mocked (aws-sdk-client-mock, one
 * DescribeImages page of up to 1000 images per repository), the planner and
 * the worker as deployed (src/reverify), the reverify queue and the topics on
 * fauxqs, the verdict store and run ledger on dynalite, and every image with
 * its own manifest, payload and signature in a docker-registry behind
 * htpasswd (ECR's token as the password). Nothing is cached between images:
 * each listed image is fetched and verified.
 *
 * Prints planning (listing and sending) and verification (the workers
 * draining the queue) apart, in images/s, with the CPU each side spent,
 * AWS and registry calls per image, peak memory, and the projected wall time
 * and cost of the same run on Lambda. Writes `reverify` into bench/results.json.
 */
import { systemClock } from '../src/clock.ts';
import { jsonLogger } from '../src/observability/log.ts';
import { DescribeImagesCommand, DescribeRepositoriesCommand, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import type { ImageDetail } from '@aws-sdk/client-ecr';
import { AwsSessions } from '../src/accounts/sts.ts';
import { mapLimit } from '../src/map-limit.ts';
import { processReverifyRecords } from '../src/reverify/dispatch.ts';
import { planTargets, startRun } from '../src/reverify/planner.ts';
import { PAYMENTS, RETAIL, detail, image, push, serveListing, sign, startWorld, testVerify, wire } from '../test/support/reverify.ts';
import { summary, writeResults } from './support.ts';

const IMAGES = Number(process.env.BENCH_IMAGES ?? 6000);
const PER_REPOSITORY = 1000;
/** Lambdas the worker's event source mapping runs at once (its maximum concurrency). */
const WORKERS = Number(process.env.BENCH_WORKERS ?? 8);
/** Pushes at once while setting up: the registry is local, setup is not what is measured. */
const SETUP_WIDTH = 8;

let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);

const world = await startWorld();
try {
  // Every image its own: half in each account, in repositories of PER_REPOSITORY, five in six signed.
  const setupStarted = performance.now();
  let signed = 0;
  for (const [account, prefix] of [
    [PAYMENTS, 'payments'],
    [RETAIL, 'retail'],
  ] as const) {
    const perAccount = Math.ceil(IMAGES / 2);
    const names = Array.from({ length: Math.ceil(perAccount / PER_REPOSITORY) }, (_, r) => `${prefix}/svc-${String(r).padStart(4, '0')}`);
    const images: Record<string, ImageDetail[][]> = {};
    for (const [r, name] of names.entries()) {
      const count = Math.min(PER_REPOSITORY, perAccount - r * PER_REPOSITORY);
      const details = await mapLimit(
        Array.from({ length: count }, (_, i) => i),
        SETUP_WIDTH,
        async (i) => {
          const m = image(`${account}/${name}/${i}`);
          await push(world, account, name, m, `build-${i}`);
          if (i % 6 !== 5) await sign(world, account, name, m);
          return detail(name, m, [`build-${i}`], new Date());
        },
      );
      signed += details.filter((_, i) => i % 6 !== 5).length;
      images[name] = [details];
    }
    serveListing(world, account, { repositoryPages: [names], images });
  }
  console.log(`setup: ${IMAGES} distinct images (${signed} signed) pushed in ${((performance.now() - setupStarted) / 1000).toFixed(1)} s`);

  const sessions = new AwsSessions({ sts: world.stsClient, sourceIdentity: 'sigwatch', externalId: async () => '', durationSeconds: 900, now: systemClock });
  const realVerify = testVerify(world, sessions);
  const verifyMs: number[] = [];
  // Verdicts by decision: fast errors would flatter the figures, so each run must admit exactly the signed images.
  const decisions = new Map<string, number>();
  const w = wire(world, { sessions });
  w.worker.verify = async (img, trigger) => {
    const started = performance.now();
    try {
      const outcome = await realVerify(img, trigger);
      const decision = 'verdict' in outcome.verdict ? outcome.verdict.verdict : 'error';
      decisions.set(decision, (decisions.get(decision) ?? 0) + 1);
      return outcome;
    } finally {
      verifyMs.push(performance.now() - started);
    }
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
    const cpu0 = process.cpuUsage();
    const started = performance.now();
    const plan = await startRun(w.planner, { runId, trigger: 'reverify', targets: planTargets(world.config) });
    const planned = performance.now();
    const planCpu = process.cpuUsage(cpu0);
    const registryCpu = world.reg.cpuMs();
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
    const runCpu = process.cpuUsage(cpu0);
    const state = await w.ledger.state(runId);
    if (!state.complete || state.done !== plan.images) throw new Error(`run incomplete: ${JSON.stringify(state)}`);
    const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
    return {
      plan,
      planning: { seconds: (planned - started) / 1000, cpuMs: cpuMs(planCpu) },
      verification: { seconds: (finished - planned) / 1000, cpuMs: cpuMs(runCpu) - cpuMs(planCpu), registryCpuMs: world.reg.cpuMs() - registryCpu },
    };
  };

  // The first run meets every image for the first time (its denies are news); the second is a day like any other.
  const first = await runOnce('bench-day-1');
  console.log(
    `first run (every verdict new): ${first.plan.images} images in ${(first.planning.seconds + first.verification.seconds).toFixed(1)} s, ${calls.sns} SNS messages`,
  );
  resetCounts();
  verifyMs.length = 0;
  decisions.clear();
  const day = await runOnce('bench-day-2');
  clearInterval(sampler);

  const n = day.plan.images;
  if (n !== IMAGES) throw new Error(`planned ${n} images, pushed ${IMAGES}`);
  if (verifyMs.length !== n) throw new Error(`verified ${verifyMs.length} images of ${n}`);
  if (decisions.get('admit') !== signed || decisions.get('deny') !== n - signed) {
    throw new Error(`expected ${signed} admits and ${n - signed} denies, got ${JSON.stringify(Object.fromEntries(decisions))}`);
  }
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
  const perVerification = summary(verifyMs);
  const planning = { ...day.planning, imagesPerSecond: n / day.planning.seconds, cpuMsPerImage: day.planning.cpuMs / n };
  const verification = {
    ...day.verification,
    imagesPerSecond: n / day.verification.seconds,
    cpuMsPerImage: day.verification.cpuMs / n,
    registryCpuMsPerImage: day.verification.registryCpuMs / n,
    perImageMs: perVerification,
    workers: WORKERS,
  };

  console.log(`steady-state run: ${n} distinct images (${signed} signed) in ${day.plan.messages} messages, ${WORKERS} concurrent workers`);
  console.log(
    `  planning: ${planning.seconds.toFixed(2)} s, ${Math.round(planning.imagesPerSecond)} images/s listed and sent (${planning.cpuMsPerImage.toFixed(3)} ms CPU per image)`,
  );
  console.log(
    `  verification: ${verification.seconds.toFixed(2)} s, ${Math.round(verification.imagesPerSecond)} images/s, every image fetched and verified (${verification.cpuMsPerImage.toFixed(2)} ms CPU per image in this process, dynalite and fauxqs included, ${verification.registryCpuMsPerImage.toFixed(2)} ms in docker-registry)`,
  );
  console.log(
    `  one verification, as the worker waits for it: ${perVerification.median.toFixed(1)} ms (${perVerification.p25.toFixed(1)}–${perVerification.p75.toFixed(1)}), ${WORKERS} workers sharing 2 cores with the registry`,
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
  // Assumed: the 3 requests of a by-digest verification (signature manifest, its layer, the referrers
  // list; bench/run.ts counts them) and one more for token refreshes and retries.
  const registryRequests = 4;
  // The CPU an image cost sigwatch here, plus the round trips it waits for in-region.
  const perImageMs = verification.cpuMsPerImage + registryRttMs * registryRequests;
  const perMessageS = (perImageMs * 50) / 4 / 1000; // 50 images a message, 4 at a time
  const workerGbS = (n / 50) * perMessageS * MEMORY_GB;
  const plannerGbS = ((ecrCalls.describeImages + ecrCalls.describeRepositories) * 0.08 + sqsSend * 0.02) * MEMORY_GB;
  const messages = day.plan.messages;
  const lambdaCost = (workerGbS + plannerGbS) * GB_S + (messages / 10 + 1) * REQUEST;
  // DynamoDB on-demand: a verdict item (< 1 KB) is one write unit and one consistent read unit. The run's
  // counters rewrite items that hold the ids of the batches already counted (about 19 bytes each): the
  // total item grows to 2 × messages ids, a team's to its share of them; each update costs its size in KB.
  const totalItemKb = (2 * messages * 19) / 1024;
  const ledgerWru = 2 * messages * Math.max(1, totalItemKb / 2) + messages * Math.max(1, totalItemKb / 8);
  const dynamoCost = (n + ledgerWru) * (0.625 / 1e6) + n * (0.125 / 1e6);
  const sqsCost = (sqsSend + messages / 10 + messages) * (0.4 / 1e6);
  const wall = (workers: number) => (messages * perMessageS) / workers + planning.seconds;
  console.log('  projection for this run on Lambda (1024 MB arm64, 50 images a message, 4 verified at once):');
  console.log(
    `    per image ~${perImageMs.toFixed(0)} ms (measured ${verification.cpuMsPerImage.toFixed(1)} ms CPU + ${registryRequests} registry round trips of ${registryRttMs} ms)`,
  );
  console.log(
    `    worker compute ${workerGbS.toFixed(1)} GB-s; wall time ~${wall(20).toFixed(0)} s with 20 concurrent workers, ~${wall(5).toFixed(0)} s with 5`,
  );
  console.log(
    `    cost per run: Lambda $${lambdaCost.toFixed(4)}, DynamoDB $${dynamoCost.toFixed(4)} (${Math.round(ledgerWru)} WRU of run counters), SQS $${sqsCost.toFixed(5)}; per 30-day month $${((lambdaCost + dynamoCost + sqsCost) * 30).toFixed(2)}`,
  );
  writeResults({
    reverify: {
      distinctImages: n,
      signedImages: signed,
      workers: WORKERS,
      planning,
      verification,
      peakRssMiB: peakRss / 1024 / 1024,
      projection: { perImageMs, workerGbS, costPerRunUsd: lambdaCost + dynamoCost + sqsCost },
    },
  });
} finally {
  clearInterval(sampler);
  const stopping = performance.now();
  await world.stop();
  console.log(`(local services stopped in ${((performance.now() - stopping) / 1000).toFixed(1)} s)`);
}
