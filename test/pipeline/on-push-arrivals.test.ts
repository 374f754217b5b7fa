import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { SQSEvent } from 'aws-lambda';
import { buildImage, pushManifest, signImageWithKey } from '../support/index.ts';
import { awsSample, sampleWith, type AwsSample } from '../support/aws-samples.ts';
import { ecrHost, EVENT_TIME, OnPushScenario, PAYMENTS, REGION, releaseKey } from '../support/on-push-scenario.ts';

/**
 * Every way an image arrives in ECR gets a verdict on arrival: AWS's published
 * "ECR Pull Through Cache Action" and "ECR Replication Action" samples, with
 * the values of an image in the test registry (test/support/aws-samples.ts),
 * through the deployed handler, bare and in an SQS envelope. ECR events that
 * need no verdict (scans) are ignored, not retried.
 */

describe('on-push: images cached from upstream or replicated in', () => {
  let sc: OnPushScenario;
  const cached = buildImage({ seed: 'arrival-alpine' });
  before(async () => {
    sc = await OnPushScenario.start();
    await pushManifest(sc.servers.reg, 'docker-hub/alpine', '3.17.2', cached);
    await signImageWithKey(sc.servers.reg, 'docker-hub/alpine', cached, releaseKey.privateKey);
  });
  beforeEach(() => sc.reset());
  after(() => sc?.stop());

  const sample = (name: AwsSample, id: string) =>
    sampleWith(name, {
      id,
      account: PAYMENTS,
      region: REGION,
      time: new Date(EVENT_TIME).toISOString().replace('.000Z', 'Z'),
      repository: 'docker-hub/alpine',
      digest: cached.digest,
      tag: '3.17.2',
    });

  for (const name of ['pull-through-cache', 'replication'] as const) {
    for (const envelope of ['bare', 'sqs'] as const) {
      it(`${name} (${envelope === 'bare' ? 'the EventBridge event itself' : 'in an SQS envelope'}): one verdict, to the owning team`, async () => {
        const event = sample(name, `evt-${name}-${envelope}`);
        const input = envelope === 'bare' ? (event as unknown as SQSEvent) : sc.batch({ id: 'm1', body: event });
        const res = await sc.handler()(input);
        assert.deepEqual(res.batchItemFailures, []);
        const received = await sc.received('payments');
        assert.equal(received.length, 1, JSON.stringify(received));
        const [n] = received;
        assert.equal(n!.verdict, 'admit', n!.reasons.join('; '));
        assert.equal(n!.image, `${ecrHost(PAYMENTS)}/docker-hub/alpine@${cached.digest}`);
        assert.deepEqual(n!.tags, ['3.17.2']);
        assert.equal(n!.eventId, `evt-${name}-${envelope}`);
        const line = sc.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.message === 'verdict');
        assert.equal(line?.arrival, name);
      });
    }
  }

  it('resolves the tag through the member role when a pull-through cache action names no digest', async () => {
    const event = sample('pull-through-cache', 'evt-no-digest');
    delete (event.detail as Record<string, unknown>)['image-digest'];
    const res = await sc.handler()(sc.batch({ id: 'm1', body: event }));
    assert.deepEqual(res.batchItemFailures, []);
    const [n, ...more] = await sc.received('payments');
    assert.equal(more.length, 0);
    assert.equal(n!.verdict, 'admit');
    assert.equal(n!.digest, cached.digest);
    assert.deepEqual(n!.tags, ['3.17.2']);
  });

  it('ignores scan events and a failed replication (AWS samples), bare and in SQS: no verdict, nothing retried', async () => {
    const names = ['image-scan', 'scan-resource-change', 'replication-failed'] as const;
    const res = await sc.handler()(sc.batch(...names.map((name) => ({ id: name, body: awsSample(name) }))));
    assert.deepEqual(res.batchItemFailures, []);
    for (const name of names) assert.deepEqual((await sc.handler()(awsSample(name) as unknown as SQSEvent)).batchItemFailures, []);
    assert.deepEqual(await sc.received('payments'), []);
    assert.deepEqual(await sc.received('operators'), []);
    const ignored = sc.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.message === 'event ignored');
    assert.equal(ignored.length, 6);
  });
});
