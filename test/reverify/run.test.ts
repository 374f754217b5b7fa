import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DescribeImagesCommand, DescribeRepositoriesCommand, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { AwsSessions } from '../../src/accounts/sts.ts';
import { parseReverifyMessage, type ImagesMessage } from '../../src/reverify/messages.ts';
import { planTargets, startRun } from '../../src/reverify/planner.ts';
import { ecrHost } from '../../src/registry/providers/ecr-names.ts';
import { deleteManifest, signatureTag, type BuiltManifest } from '../support/index.ts';
import {
  PAYMENTS,
  RETAIL,
  detail,
  drain,
  EXTERNAL_ID,
  image,
  pump,
  push,
  REGION,
  serveListing,
  sign,
  startWorld,
  wire,
  type World,
} from '../support/reverify.ts';
import { testNow } from '../support/clock.ts';

/**
 * Daily runs over two accounts: the first establishes every image's verdict,
 * the second (after a signature is removed and an unsigned image is signed)
 * publishes exactly the two changes, and a third, with one account's role
 * refusing sigwatch, reports that account while the other completes.
 */

const HOST_A = ecrHost(PAYMENTS, REGION);
const HOST_B = ecrHost(RETAIL, REGION);

describe('scheduled re-verification over two accounts', () => {
  let world: World;
  const img: Record<string, BuiltManifest> = {};
  let api2Signature: BuiltManifest;

  before(async () => {
    world = await startWorld();
    img.api1 = image('api-1');
    img.api2 = image('api-2');
    img.web1 = image('web-1');
    img.shop1 = image('shop-1');
    await push(world, PAYMENTS, 'payments/api', img.api1, 'v1');
    await push(world, PAYMENTS, 'payments/api', img.api2, 'v2');
    await push(world, PAYMENTS, 'payments/web', img.web1, 'main');
    await push(world, RETAIL, 'retail/shop', img.shop1, '2026.11');
    await sign(world, PAYMENTS, 'payments/api', img.api1);
    api2Signature = await sign(world, PAYMENTS, 'payments/api', img.api2);
    await sign(world, RETAIL, 'retail/shop', img.shop1);
    // payments/web's image is unsigned for now.
    serveListing(
      world,
      PAYMENTS,
      {
        // Two pages of repositories: payments/tmp is excluded by the operator, docs/readme matches no policy glob.
        repositoryPages: [
          ['payments/api', 'payments/tmp'],
          ['payments/web', 'docs/readme'],
        ],
        images: {
          'payments/api': [
            [detail('payments/api', img.api1, ['v1'])],
            [
              detail('payments/api', img.api2, ['v2']),
              // cosign's signature manifest, listed like any image: never verified itself.
              { repositoryName: 'payments/api', imageDigest: api2Signature.digest, imageTags: [signatureTag(img.api2.digest)] },
              // An untagged image (a superseded build): skipped unless the operator includes untagged images.
              { repositoryName: 'payments/api', imageDigest: `sha256:${'9'.repeat(64)}`, imageTags: [] },
            ],
          ],
          'payments/web': [[detail('payments/web', img.web1, ['main'])]],
        },
      },
      { throttleFirstImagesCall: true },
    );
    serveListing(world, RETAIL, { repositoryPages: [['retail/shop']], images: { 'retail/shop': [[detail('retail/shop', img.shop1, ['2026.11'])]] } });
  });
  after(() => world.stop());

  it('run 1: lists with the exact paginated requests, through each account’s assumed role, and publishes only the first deny', async () => {
    const w = wire(world);
    const stats = await startRun(w.planner, { runId: 'daily-2026-11-23', trigger: 'reverify', targets: planTargets(world.config) });
    assert.deepEqual({ images: stats.images, messages: stats.messages, failed: stats.failed }, { images: 4, messages: 4, failed: 0 });

    // STS: each account's role, with the association's ExternalId and sigwatch's SourceIdentity.
    const assumed = world.sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input);
    assert.deepEqual(assumed.map((i) => [i.RoleArn, i.ExternalId, i.SourceIdentity, i.DurationSeconds]).sort(), [
      [`arn:aws:iam::${PAYMENTS}:role/sigwatch-reader`, EXTERNAL_ID, 'sigwatch', 900],
      [`arn:aws:iam::${RETAIL}:role/sigwatch-reader`, EXTERNAL_ID, 'sigwatch', 900],
    ]);
    // The listing's ECR clients carry those credentials.
    const built = world.ecrBuilt.filter((b) => b.region === REGION);
    assert.ok(built.some((b) => b.account === PAYMENTS && b.accessKeyId === `ASIA${PAYMENTS}` && b.sessionToken === `token-${PAYMENTS}`));
    assert.ok(built.some((b) => b.account === RETAIL && b.accessKeyId === `ASIA${RETAIL}` && b.sessionToken === `token-${RETAIL}`));

    const ecrA = world.ecr.get(PAYMENTS)!.mock;
    assert.deepEqual(
      ecrA.commandCalls(DescribeRepositoriesCommand).map((c) => c.args[0].input),
      [
        { registryId: PAYMENTS, maxResults: 1000 },
        { registryId: PAYMENTS, maxResults: 1000, nextToken: 'repos-1' },
      ],
    );
    const images = { registryId: PAYMENTS, maxResults: 1000, filter: { tagStatus: 'ANY' } };
    assert.deepEqual(
      ecrA.commandCalls(DescribeImagesCommand).map((c) => c.args[0].input),
      [
        // Throttled, then the same request again.
        { ...images, repositoryName: 'payments/api' },
        { ...images, repositoryName: 'payments/api' },
        { ...images, repositoryName: 'payments/api', nextToken: 'payments/api#1' },
        { ...images, repositoryName: 'payments/web' },
      ],
    );
    assert.deepEqual(
      world.ecr
        .get(RETAIL)!
        .mock.commandCalls(DescribeImagesCommand)
        .map((c) => c.args[0].input),
      [{ registryId: RETAIL, maxResults: 1000, filter: { tagStatus: 'ANY' }, repositoryName: 'retail/shop' }],
    );

    // The fan-out: one images message per image page, naming exactly the images to verify.
    const { handled } = await pump(world, w);
    const sent = handled.map((m) => parseReverifyMessage(m.Body!)).map((p) => (p.ok ? p.message : assert.fail(p.reason))) as ImagesMessage[];
    assert.deepEqual(
      sent.map((m) => [m.account, m.repository, m.images.map((i) => [i.digest, i.tags])]).sort(),
      [
        [PAYMENTS, 'payments/api', [[img.api1!.digest, ['v1']]]],
        [PAYMENTS, 'payments/api', [[img.api2!.digest, ['v2']]]],
        [PAYMENTS, 'payments/web', [[img.web1!.digest, ['main']]]],
        [RETAIL, 'retail/shop', [[img.shop1!.digest, ['2026.11']]]],
      ].sort(),
    );
    // The registry token came from ECR through the assumed role, once per account.
    assert.equal(world.ecr.get(PAYMENTS)!.mock.commandCalls(GetAuthorizationTokenCommand).length, 1);

    const payments = await drain(world, world.topics.payments);
    const verdicts = payments.filter((m) => m.type === undefined).map((m) => m.body);
    assert.deepEqual(
      verdicts.map((n) => [n.image, n.verdict, n.trigger, n.team]),
      [[`${HOST_A}/payments/web@${img.web1!.digest}`, 'deny', 'reverify', 'payments']],
    );
    const summary = payments.find((m) => m.type === 'run-summary')!.body;
    assert.deepEqual(summary.counts, { images: 3, admit: 2, deny: 1, warn: 0, error: 0, unverified: 0, changed: 1 });
    assert.deepEqual(summary.changed, [
      { image: `${HOST_A}/payments/web@${img.web1!.digest}`, tags: ['main'], from: 'none', to: 'deny', reason: (verdicts[0]!.reasons as string[])[0] },
    ]);
    const retail = await drain(world, world.topics.retail);
    assert.deepEqual(
      retail.map((m) => [m.type, (m.body.counts as { admit: number } | undefined)?.admit]),
      [['run-summary', 1]],
      'an admitted image seen for the first time is not news',
    );
    const operators = await drain(world, world.topics.operators);
    assert.deepEqual(
      operators.map((m) => [m.type, m.body.targets]),
      [['run-summary', { total: 2, listed: 2, failed: 0 }]],
    );
    assert.equal(w.completed.length, 1);
  });

  it('run 2: a removed signature publishes a deny, a newly signed image an admit, an unchanged image nothing (listing resumed across invocations)', async () => {
    await deleteManifest(world.reg, `${PAYMENTS}/payments/api`, api2Signature.digest);
    await sign(world, PAYMENTS, 'payments/web', img.web1!);
    world.ecr.get(PAYMENTS)!.mock.resetHistory();
    // The planner runs out of time after every ECR page: the listing continues through plan messages.
    let budget = 0;
    const w = wire(world, { remainingMs: () => (budget++ % 2 === 0 ? 900_000 : 1_000) });
    const stats = await startRun(w.planner, { runId: 'daily-2026-11-24', trigger: 'reverify', targets: planTargets(world.config) });
    assert.ok(stats.continued >= 1, 'the listing was continued in another invocation');
    const { handled } = await pump(world, w);
    assert.ok(handled.some((m) => (JSON.parse(m.Body!) as { kind: string }).kind === 'plan'));
    // The resumed listing asked for each page once, with its token.
    const described = world.ecr
      .get(PAYMENTS)!
      .mock.commandCalls(DescribeImagesCommand)
      .map((c) => [c.args[0].input.repositoryName, c.args[0].input.nextToken]);
    assert.deepEqual(described, [
      ['payments/api', undefined],
      ['payments/api', 'payments/api#1'],
      ['payments/web', undefined],
    ]);

    const payments = await drain(world, world.topics.payments);
    const verdicts = payments.filter((m) => m.type === undefined).map((m) => m.body);
    assert.deepEqual(
      verdicts.map((n) => [n.image, n.verdict]).sort(),
      [
        [`${HOST_A}/payments/api@${img.api2!.digest}`, 'deny'],
        [`${HOST_A}/payments/web@${img.web1!.digest}`, 'admit'],
      ].sort(),
    );
    const summary = payments.find((m) => m.type === 'run-summary')!.body;
    assert.deepEqual(summary.counts, { images: 3, admit: 2, deny: 1, warn: 0, error: 0, unverified: 0, changed: 2 });
    assert.deepEqual(
      (summary.changed as { from: string; to: string; image: string }[]).map((c) => [c.image, c.from, c.to]).sort(),
      [
        [`${HOST_A}/payments/api@${img.api2!.digest}`, 'admit', 'deny'],
        [`${HOST_A}/payments/web@${img.web1!.digest}`, 'deny', 'admit'],
      ].sort(),
    );
    assert.deepEqual(
      (await drain(world, world.topics.retail)).map((m) => m.type),
      ['run-summary'],
    );
    assert.equal((await drain(world, world.topics.operators)).length, 1);
  });

  it('run 3: an account whose role refuses sigwatch is reported to the operators while the other account completes', async () => {
    world.denied.add(RETAIL);
    // A fresh function instance: no cached sessions.
    const sessions = new AwsSessions({
      sts: world.stsClient,
      sourceIdentity: 'sigwatch',
      externalId: async () => assert.fail('inline only'),
      durationSeconds: 900,
      now: testNow,
    });
    const w = wire(world, { sessions });
    const stats = await startRun(w.planner, { runId: 'daily-2026-11-25', trigger: 'reverify', targets: planTargets(world.config) });
    assert.equal(stats.failed, 1);
    await pump(world, w);

    const operators = await drain(world, world.topics.operators);
    const failure = operators.find((m) => m.type === 'run-failure')!.body;
    assert.equal(failure.account, RETAIL);
    assert.equal(failure.runId, 'daily-2026-11-25');
    assert.match(failure.reason as string, /^account 444455556666: cannot assume arn:aws:iam::444455556666:role\/sigwatch-reader: access denied/);
    assert.doesNotMatch(JSON.stringify(failure), new RegExp(EXTERNAL_ID), 'the ExternalId is never in a message');
    const summary = operators.find((m) => m.type === 'run-summary')!.body;
    assert.deepEqual(summary.targets, { total: 2, listed: 1, failed: 1 });
    assert.deepEqual(
      (summary.failures as { target: string }[]).map((f) => f.target),
      [`${RETAIL}/${REGION}`],
    );
    // Account PAYMENTS was verified in full: its team got its summary, with nothing changed.
    const payments = await drain(world, world.topics.payments);
    assert.deepEqual(
      payments.map((m) => [m.type, (m.body.counts as { images: number }).images]),
      [['run-summary', 3]],
    );
    assert.deepEqual(await drain(world, world.topics.retail), []);
    const logged = w.logs.find((l) => l.message === 'account not listed')!;
    assert.equal(logged.targetsFailed, 1, 'the failure is an EMF metric');
    assert.ok(HOST_B);
  });
});
