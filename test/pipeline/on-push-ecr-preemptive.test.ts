/**
 * ECR's registry answers Basic challenges, and sigwatch's ECR credentials
 * (GetAuthorizationToken's `AWS:<password>`) are Basic: over HTTPS they go
 * with the first request, so a Lambda cold start pays no 401 per registry.
 * The on-push handler as deployed (see test/support/on-push-scenario.ts), its
 * ECR stand-in serving TLS behind a recording front.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { OnPushScenario, PAYMENTS } from '../support/on-push-scenario.ts';

describe('on-push over HTTPS: the ECR token with the first request', () => {
  let sc: OnPushScenario;
  before(async () => {
    sc = await OnPushScenario.start({ tls: true });
  });
  beforeEach(() => sc.reset());
  after(() => sc?.stop());

  const push = (image: string) => sc.batch({ id: image, body: sc.event(image, PAYMENTS, { 'image-digest': sc.images[image]!.digest, 'image-tag': 'v1' }) });

  it('makes no 401 round trip on a cold start, nor on the next batch of the warm instance', async () => {
    const front = sc.servers.front!;
    // Four signed images, each pushed once: two Lambda instances, each a cold batch then a warm one.
    for (const [instance, coldImage, warmImage] of [
      ['first', 'signed', 'revoked'],
      ['second', 'index', 'gone'],
    ] as const) {
      const seen = front.requests.length;
      // A new handler is a new Lambda instance: a cold registry client, nothing learned.
      const handler = sc.handler();
      assert.deepEqual((await handler(push(coldImage))).batchItemFailures, []);
      const cold = front.requests.slice(seen);
      // Before: the first request of every cold start was answered 401 and sent again.
      assert.deepEqual(
        cold.filter((r) => r.status === 401),
        [],
      );
      assert.ok(cold.length >= 2, `${instance}: read the signature manifest and its blob`);
      assert.deepEqual(new Set(cold.map((r) => r.scheme)), new Set(['Basic']));

      const warmFrom = front.requests.length;
      assert.deepEqual((await handler(push(warmImage))).batchItemFailures, []);
      assert.deepEqual(
        front.requests.slice(warmFrom).filter((r) => r.status === 401),
        [],
      );
      const verdicts = (await sc.received('payments')).map((n) => n.verdict);
      assert.deepEqual(verdicts, ['admit', 'admit']);
    }
    // The stand-in checks the password itself (htpasswd for AWS and ECR_PASSWORD): what it accepted is the token ECR handed out, one per instance.
    assert.equal(sc.ecr.commandCalls(GetAuthorizationTokenCommand).length, 2);
  });
});
