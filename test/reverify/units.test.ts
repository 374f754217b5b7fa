import assert from 'node:assert/strict';
import { TEST_EPOCH, testNow } from '../support/clock.ts';
import { after, before, describe, it } from 'node:test';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient, type SendMessageBatchCommandInput } from '@aws-sdk/client-sqs';
import { parseConfig } from '../../src/accounts/config.ts';
import type { Association } from '../../src/accounts/types.ts';
import { verifyThroughCentral } from '../../src/reverify/assemble.ts';
import type { BatchVerifier, ImageCheck, OwnedImage } from '../../src/pipeline/image-check.ts';
import { changeOf } from '../../src/reverify/changes.ts';
import { IMAGES_PER_MESSAGE, parseReverifyMessage, type ImagesMessage } from '../../src/reverify/messages.ts';
import { globsOfPolicyText, parsePolicyChangeEvent } from '../../src/reverify/policy-change.ts';
import { batchBodies, MAX_BATCH_BYTES, SqsQueue } from '../../src/reverify/queue.ts';
import { ecrHost } from '../../src/registry/providers/ecr-names.ts';
import { globCouldMatchRepository, globsMatchImage, imageSelected, repositoryIncluded } from '../../src/reverify/selection.ts';
import { staticPolicyYaml } from '../support/index.ts';
import { startTestFauxqs, type TestFauxqs } from '../support/fauxqs.ts';

const D = (c: string) => `sha256:${c.repeat(64)}`;
const HOST = ecrHost('111122223333', 'eu-west-1');

describe('what a run verifies', () => {
  const association = { group: 'g', accounts: [], repositories: ['api/', 'shared/base'] } as unknown as Association;

  it('keeps the association’s repositories, then the operator’s include and exclude patterns', () => {
    assert.equal(repositoryIncluded('api/orders', association), true);
    assert.equal(repositoryIncluded('apis/x', association), false);
    assert.equal(repositoryIncluded('shared/base', association), true);
    assert.equal(repositoryIncluded('shared/base2', association), false);
    const all = { group: 'g', accounts: [] } as unknown as Association;
    const scope = { include: ['payments/**', 'shared/*'], exclude: ['**/tmp-*'], untagged: 'skip' as const };
    assert.equal(repositoryIncluded('payments/api/v2', all, scope), true);
    assert.equal(repositoryIncluded('payments/tmp-build', all, scope), false);
    assert.equal(repositoryIncluded('retail/shop', all, scope), false);
  });

  it('skips cosign artifacts, untagged images (by default), excluded tags and old images', () => {
    const now = Date.parse('2026-11-23T00:00:00Z');
    const days = (n: number) => new Date(now - n * 86_400_000);
    assert.deepEqual(imageSelected({ digest: D('a'), tags: ['v1', 'latest'] }, TEST_EPOCH), { keep: true, tags: ['v1', 'latest'] });
    assert.deepEqual(imageSelected({ digest: D('a'), tags: [`sha256-${'b'.repeat(64)}.sig`] }, TEST_EPOCH), { keep: false, why: 'artifact' });
    assert.deepEqual(imageSelected({ digest: D('a'), tags: [], artifactMediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json' }, TEST_EPOCH), {
      keep: false,
      why: 'artifact',
    });
    assert.deepEqual(imageSelected({ digest: D('a'), tags: [] }, TEST_EPOCH), { keep: false, why: 'untagged' });
    assert.deepEqual(imageSelected({ digest: D('a'), tags: [] }, TEST_EPOCH, { untagged: 'include' }), { keep: true, tags: [] });
    const scope = { untagged: 'skip' as const, excludeTags: ['pr-*'], maxAgeDays: 90 };
    assert.deepEqual(imageSelected({ digest: D('a'), tags: ['pr-12'] }, now, scope), { keep: false, why: 'excluded-tags' });
    assert.deepEqual(imageSelected({ digest: D('a'), tags: ['pr-12', 'v3'] }, now, scope), { keep: true, tags: ['v3'] });
    assert.deepEqual(imageSelected({ digest: D('a'), tags: ['v1'], pushedAt: days(200) }, now, scope), { keep: false, why: 'age' });
    // Pushed long ago but still pulled: still in use, still verified.
    assert.deepEqual(imageSelected({ digest: D('a'), tags: ['v1'], pushedAt: days(200), lastPulledAt: days(3) }, now, scope), { keep: true, tags: ['v1'] });
  });

  it('matches policy globs against the image’s digest name, and prunes repositories only when no image could match', () => {
    assert.equal(globsMatchImage(['**/payments/**'], HOST, 'payments/api', D('a')), true);
    assert.equal(globsMatchImage(['**/payments/**'], HOST, 'retail/api', D('a')), false);
    assert.equal(globCouldMatchRepository('**/payments/*', HOST, 'payments/api'), true);
    assert.equal(globCouldMatchRepository('**/payments/*', HOST, 'payments/api/v2'), false);
    assert.equal(globCouldMatchRepository(`${HOST}/web*`, HOST, 'webhooks'), true);
    assert.equal(globCouldMatchRepository(`${HOST}/web*`, HOST, 'api'), false);
    // Globs that name digests, or end in literal text a digest could end with, are decided image by image.
    assert.equal(globCouldMatchRepository(`${HOST}/api@sha256:ab*`, HOST, 'other'), true);
    assert.equal(globCouldMatchRepository(`${HOST}/api*0`, HOST, 'api'), true);
    assert.equal(globsMatchImage([`${HOST}/api*0`], HOST, 'api', D('0')), true);
    assert.equal(globsMatchImage([`${HOST}/api*0`], HOST, 'api', D('1')), false);
  });

  it('publishes a verdict change, new warnings, and a first verdict that is not an admit', () => {
    assert.equal(changeOf(undefined, { verdict: 'admit', warnings: [] }), undefined);
    assert.equal(changeOf(undefined, { verdict: 'deny', warnings: [] }), 'first');
    assert.equal(changeOf({ verdict: 'admit', warnings: [] }, { verdict: 'deny', warnings: [] }), 'verdict');
    assert.equal(changeOf({ verdict: 'deny', warnings: [] }, { verdict: 'deny', warnings: [] }), undefined);
    assert.equal(changeOf({ verdict: 'warn', warnings: ['a'] }, { verdict: 'warn', warnings: ['a', 'b'] }), 'new-warnings');
    assert.equal(changeOf({ verdict: 'warn', warnings: ['a', 'b'] }, { verdict: 'warn', warnings: ['a'] }), undefined);
    assert.equal(changeOf({ verdict: 'error', warnings: [] }, { verdict: 'error', warnings: [] }), undefined);
  });
});

describe('reverify messages', () => {
  const images = (n: number): ImagesMessage => ({
    sigwatch: 'reverify',
    version: 1,
    kind: 'images',
    runId: 'run-1',
    batchId: 'b1',
    trigger: 'reverify',
    account: '111122223333',
    region: 'eu-west-1',
    repository: 'payments/api',
    images: Array.from({ length: n }, (_, i) => ({ digest: `sha256:${i.toString(16).padStart(64, '0')}`, tags: [`v${i}`] })),
  });

  it('round-trips and refuses what is not one, naming the field', () => {
    const ok = parseReverifyMessage(JSON.stringify(images(2)));
    assert.ok(ok.ok);
    assert.deepEqual(ok.message, images(2));
    const bad = (m: unknown) => {
      const r = parseReverifyMessage(JSON.stringify(m));
      assert.ok(!r.ok);
      return r.reason;
    };
    assert.match(bad({ ...images(1), account: '12' }), /^reverify message: account: invalid value "12"/);
    assert.match(bad({ ...images(IMAGES_PER_MESSAGE + 1) }), /images: expected 1 to 50 images/);
    assert.match(bad({ ...images(1), images: [{ digest: 'sha256:zz', tags: [] }] }), /images\[0\]\.digest/);
    assert.match(bad({ ...images(1), kind: 'other' }), /kind: expected images or plan/);
    assert.match(bad({ ...images(1), version: 2 }), /version: expected 1/);
    assert.equal(parseReverifyMessage('{').ok, false);
    const plan = {
      sigwatch: 'reverify',
      version: 1,
      kind: 'plan',
      runId: 'r',
      trigger: 'policy-change',
      account: '111122223333',
      region: 'eu-west-1',
      scope: { globs: ['**'] },
      cursor: { repositoriesDone: 3, repositoriesToken: 't' },
      hop: 2,
    };
    assert.deepEqual(parseReverifyMessage(JSON.stringify(plan)), { ok: true, message: plan });
    assert.match(bad({ ...plan, cursor: { repositoriesDone: -1 } }), /cursor\.repositoriesDone/);
  });

  it('groups bodies into SendMessageBatch requests of at most 10 entries and 256 KiB', () => {
    assert.deepEqual(
      batchBodies(Array.from({ length: 23 }, (_, i) => `m${i}`)).map((b) => b.length),
      [10, 10, 3],
    );
    const big = 'x'.repeat(100 * 1024);
    assert.deepEqual(
      batchBodies([big, big, big, 'small']).map((b) => b.length),
      [2, 2],
    );
    assert.throws(() => batchBodies(['y'.repeat(MAX_BATCH_BYTES + 1)]), /over SQS's 262144/);
  });

  describe('through fauxqs', () => {
    let fx: TestFauxqs;
    before(async () => {
      fx = await startTestFauxqs();
    });
    after(() => fx.stop());

    it('sends 23 messages as three SendMessageBatch requests that SQS accepts whole', async () => {
      const { QueueUrl } = await fx.sqs.send(new CreateQueueCommand({ QueueName: 'reverify-units' }));
      const sent: SendMessageBatchCommandInput[] = [];
      const client = new SQSClient({
        endpoint: fx.endpoint,
        region: fx.region,
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        useQueueUrlAsEndpoint: false,
      });
      client.middlewareStack.add(
        (next) => async (args) => {
          sent.push(args.input as SendMessageBatchCommandInput);
          return next(args);
        },
        { step: 'initialize' },
      );
      const queue = new SqsQueue(client, QueueUrl!);
      const messages = Array.from({ length: 23 }, (_, i) => ({ ...images(1), batchId: `b${i}` }));
      await queue.send(messages);
      assert.deepEqual(
        sent.map((s) => s.Entries?.length),
        [10, 10, 3],
      );
      const received: string[] = [];
      for (;;) {
        const { Messages = [] } = await fx.sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
        if (Messages.length === 0) break;
        received.push(...Messages.map((m) => (JSON.parse(m.Body!) as ImagesMessage).batchId));
      }
      assert.deepEqual(received.sort(), messages.map((m) => m.batchId).sort());
      client.destroy();
    });
  });
});

describe('policy-change inputs', () => {
  it('reads S3 EventBridge events and refuses others with the reason', () => {
    const event = {
      id: 'e-1',
      source: 'aws.s3',
      'detail-type': 'Object Deleted',
      time: '2026-11-23T12:00:00Z',
      detail: { bucket: { name: 'cfg' }, object: { key: 'policies/acme/a.yaml', sequencer: '0A' } },
    };
    assert.deepEqual(parsePolicyChangeEvent(event, testNow), {
      ok: true,
      change: { eventId: 'e-1', time: '2026-11-23T12:00:00Z', bucket: 'cfg', key: 'policies/acme/a.yaml', kind: 'deleted', sequencer: '0A' },
    });
    assert.deepEqual(parsePolicyChangeEvent({ ...event, source: 'aws.ecr' }, testNow), { ok: false, reason: 'source "aws.ecr": expected aws.s3' });
    assert.deepEqual(parsePolicyChangeEvent({ ...event, detail: { bucket: { name: 'cfg' }, object: {} } }, testNow), {
      ok: false,
      reason: 'detail.object.key: missing',
    });
  });

  it('takes the globs of every ClusterImagePolicy in a file, and none from a file that does not parse', () => {
    const text = `${staticPolicyYaml('a', '**/payments/**')}---\n${staticPolicyYaml('b', '**/retail/*')}`;
    assert.deepEqual(globsOfPolicyText(text, 'p.yaml'), ['**/payments/**', '**/retail/*']);
    assert.equal(globsOfPolicyText('kind: [', 'p.yaml'), undefined);
  });
});

describe('the reverify: configuration section', () => {
  const base = `defaults: {roleName: r}
operators: {topicArn: "arn:aws:sns:eu-west-1:999999999999:ops"}
groups: {acme: {topicArn: "arn:aws:sns:eu-west-1:999999999999:acme"}}
associations: [{group: acme, accounts: [{id: "111122223333", regions: [eu-west-1]}]}]
`;
  it('is optional, and read strictly when present', () => {
    const none = parseConfig(base);
    assert.ok(none.ok);
    assert.equal(none.config.reverify, undefined);
    const set = parseConfig(`${base}reverify: {include: ["payments/**"], exclude: ["**/tmp"], excludeTags: ["pr-*"], untagged: include, maxAgeDays: 90}\n`);
    assert.ok(set.ok);
    assert.deepEqual(set.config.reverify, { include: ['payments/**'], exclude: ['**/tmp'], excludeTags: ['pr-*'], untagged: 'include', maxAgeDays: 90 });
    const bad = parseConfig(`${base}reverify: {untagged: maybe, maxAgeDays: 0, include: [], colour: red}\n`);
    assert.ok(!bad.ok);
    assert.deepEqual(bad.problems.map((p) => p.path).sort(), ['reverify.colour', 'reverify.include', 'reverify.maxAgeDays', 'reverify.untagged']);
  });
});

describe('verifyThroughCentral', () => {
  it('gives the worker the verifier’s verdict, its error for the team, or an error for the operators when no one owns the image', async () => {
    const seen: OwnedImage[] = [];
    const audience = { group: 'acme/payments', team: 'payments', topicArn: 'arn:aws:sns:eu-west-1:999999999999:payments' };
    let next: ImageCheck = {
      kind: 'verdict',
      verdict: { image: 'x', digest: D('a'), verdict: 'deny', policies: [], reasons: ['no signature'] },
      audience,
      policySetVersion: 'v7',
    };
    const batch: BatchVerifier = {
      operatorsTopicArn: 'arn:aws:sns:eu-west-1:999999999999:ops',
      check: async (image) => {
        seen.push(image);
        return next;
      },
      referrerSubject: async () => undefined,
      resolveTag: async () => undefined,
      exists: async () => true,
    };
    const verify = verifyThroughCentral(batch);
    const image = { account: '111122223333', region: 'eu-west-1', repository: 'payments/api', digest: D('a'), tags: ['v1'] };
    assert.deepEqual(await verify(image, 'reverify'), {
      verdict: { image: 'x', digest: D('a'), verdict: 'deny', policies: [], reasons: ['no signature'] },
      team: 'payments',
      topicArn: audience.topicArn,
      policySetVersion: 'v7',
    });
    assert.deepEqual(seen[0], { ...image, registry: HOST });
    next = { kind: 'error', reason: 'cannot assume the role', audience };
    assert.deepEqual(await verify(image, 'reverify'), {
      verdict: { error: 'cannot assume the role' },
      team: 'payments',
      topicArn: audience.topicArn,
      policySetVersion: '',
    });
    next = { kind: 'unowned', reason: 'account 111122223333 is not associated' };
    assert.deepEqual(await verify(image, 'reverify'), {
      verdict: { error: 'account 111122223333 is not associated' },
      topicArn: batch.operatorsTopicArn,
      policySetVersion: '',
    });
  });
});
