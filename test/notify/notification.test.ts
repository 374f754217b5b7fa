import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  AuthorizationErrorException,
  CreateTopicCommand,
  InternalErrorException,
  PublishCommand,
  SNSClient,
  SubscribeCommand,
  ThrottledException,
} from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { SigwatchError } from '../../src/errors.ts';
import {
  buildNotification,
  encodeNotification,
  MAX_MESSAGE_BYTES,
  messageAttributes,
  TRUNCATION_MARKER,
  type Notification,
  type NotificationInput,
} from '../../src/notify/notification.ts';
import { deduplicationId, SnsNotifier } from '../../src/notify/sns.ts';
import { StdoutNotifier } from '../../src/notify/stdout.ts';
import type { PolicyResult, Verdict } from '../../src/verify/verdict.ts';
import { startTestFauxqs, type TestFauxqs } from '../support/fauxqs.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const REGISTRY = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
const TIME = new Date('2025-01-02T03:04:05.000Z');

const signedPolicy = (verdict: 'pass' | 'fail', name = 'signed-by-ci'): PolicyResult => ({
  name,
  mode: 'enforce',
  verdict,
  authorities: [
    {
      name: 'keyless',
      verdict,
      reason: verdict === 'pass' ? 'verified' : 'no signature from https://github.com/acme/*',
      signatures:
        verdict === 'pass'
          ? [
              {
                digest: `sha256:${'b'.repeat(64)}`,
                identity: {
                  issuer: 'https://token.actions.githubusercontent.com',
                  subject: 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main',
                },
              },
            ]
          : [],
    },
  ],
  source: { file: `s3://policies/${name}.yaml`, version: 'v7' },
});

const verdictOf = (decision: 'admit' | 'deny', policies = [signedPolicy(decision === 'admit' ? 'pass' : 'fail')]): Verdict => ({
  image: `${REGISTRY}/app@${DIGEST}`,
  digest: DIGEST,
  verdict: decision,
  policies,
  reasons: decision === 'admit' ? [] : ['signed-by-ci: no signature from https://github.com/acme/*'],
});

function input(over: Partial<NotificationInput> = {}): NotificationInput {
  return {
    verdict: verdictOf('deny'),
    image: { registry: REGISTRY, repository: 'payments/api', digest: DIGEST, tags: ['v1.2.3'], account: '123456789012', region: 'eu-west-1' },
    team: 'payments',
    trigger: 'push',
    time: TIME,
    eventId: 'evt-1',
    ...over,
  };
}

const note = (team: string, decision: 'admit' | 'deny', digest = DIGEST) =>
  buildNotification(
    input({
      team,
      verdict: verdictOf(decision),
      image: { registry: REGISTRY, repository: `${team}/api`, digest, tags: [], account: '123456789012', region: 'eu-west-1' },
    }),
  );

describe('notification schema', () => {
  it('carries the image, verdict, per-policy results with signers and versions, and the trigger', () => {
    const n = buildNotification(input({ verdict: verdictOf('admit') }));
    assert.deepEqual(n, {
      schemaVersion: 1,
      image: `${REGISTRY}/payments/api@${DIGEST}`,
      digest: DIGEST,
      registry: REGISTRY,
      repository: 'payments/api',
      account: '123456789012',
      region: 'eu-west-1',
      tags: ['v1.2.3'],
      team: 'payments',
      verdict: 'admit',
      policies: [
        {
          name: 'signed-by-ci',
          mode: 'enforce',
          verdict: 'pass',
          source: { file: 's3://policies/signed-by-ci.yaml', version: 'v7' },
          authorities: [
            {
              name: 'keyless',
              verdict: 'pass',
              reason: 'verified',
              signers: [
                {
                  signature: `sha256:${'b'.repeat(64)}`,
                  issuer: 'https://token.actions.githubusercontent.com',
                  subject: 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main',
                },
              ],
            },
          ],
        },
      ],
      reasons: [],
      time: '2025-01-02T03:04:05.000Z',
      trigger: 'push',
      eventId: 'evt-1',
    });
  });

  it('reports a failure to reach a verdict as verdict "error" with its reason', () => {
    const n = buildNotification(input({ verdict: { error: 'registry unreachable: ECONNREFUSED' }, team: undefined, eventId: undefined, trigger: 'reverify' }));
    assert.equal(n.verdict, 'error');
    assert.deepEqual(n.policies, []);
    assert.deepEqual(n.reasons, ['registry unreachable: ECONNREFUSED']);
    assert.equal('team' in n, false);
    assert.equal('eventId' in n, false);
  });

  it('derives typed filter attributes: String for verdict/account/repository/team, String.Array (JSON) for policy', () => {
    const n = buildNotification(input({ verdict: verdictOf('deny', [signedPolicy('fail'), signedPolicy('pass', 'sbom'), signedPolicy('pass', 'sbom')]) }));
    assert.deepEqual(messageAttributes(n), {
      verdict: { DataType: 'String', StringValue: 'deny' },
      account: { DataType: 'String', StringValue: '123456789012' },
      repository: { DataType: 'String', StringValue: 'payments/api' },
      team: { DataType: 'String', StringValue: 'payments' },
      policy: { DataType: 'String.Array', StringValue: '["signed-by-ci","sbom"]' },
    });
  });

  it('leaves out absent or unsendable attribute values rather than cutting them, and drops whole policy names past the cap', () => {
    const many = Array.from({ length: 20 }, (_, i) => signedPolicy('pass', `policy-${i}-${'x'.repeat(80)}`));
    const n = buildNotification(input({ team: 'x'.repeat(300), verdict: verdictOf('admit', many), image: { ...input().image, account: undefined } }));
    const attributes = messageAttributes(n);
    assert.deepEqual(Object.keys(attributes).sort(), ['policy', 'repository', 'verdict']);
    const names = JSON.parse(attributes.policy!.StringValue) as string[];
    assert.ok(names.length > 0 && names.length < 20);
    assert.deepEqual(
      names,
      many.slice(0, names.length).map((p) => p.name),
    );
    assert.ok(Buffer.byteLength(attributes.policy!.StringValue) <= 1024);
    assert.equal(messageAttributes({ ...n, team: 'bad\u0000team' }).team, undefined);
  });
});

describe('size guard', () => {
  const huge = (): Notification => {
    const policies = Array.from({ length: 40 }, (_, i) => ({
      ...signedPolicy('fail', `policy-${i}`),
      reason: 'r'.repeat(20_000),
      notes: Array.from({ length: 100 }, () => 'n'.repeat(500)),
    }));
    return buildNotification(
      input({ verdict: { ...verdictOf('deny', policies), reasons: Array.from({ length: 1000 }, (_, i) => `reason ${i} ${'z'.repeat(1000)}`) } }),
    );
  };

  it('leaves a notification that fits untouched', () => {
    const n = note('payments', 'deny');
    const { notification, body } = encodeNotification(n);
    assert.equal(notification, n);
    assert.deepEqual(JSON.parse(body), n);
  });

  it('truncates reasons and details, with markers, to below 256 KiB including attributes', () => {
    const n = huge();
    assert.ok(Buffer.byteLength(JSON.stringify(n)) > MAX_MESSAGE_BYTES);
    const { body, attributes, notification } = encodeNotification(n);
    const attributeBytes = Object.entries(attributes).reduce((sum, [k, a]) => sum + Buffer.byteLength(k + a.DataType + a.StringValue), 0);
    assert.ok(Buffer.byteLength(body) + attributeBytes <= MAX_MESSAGE_BYTES);
    const parsed = JSON.parse(body) as Notification;
    assert.deepEqual(parsed, notification);
    assert.equal(parsed.truncated, true);
    assert.equal(parsed.verdict, 'deny');
    assert.equal(parsed.image, n.image);
    assert.equal(parsed.policies.length, 40, 'every policy still named');
    assert.ok(parsed.reasons.at(-1)!.startsWith(TRUNCATION_MARKER));
    assert.ok(parsed.policies[0]!.reason!.endsWith(TRUNCATION_MARKER));
  });

  it('as a last resort leaves out trailing policies and counts them', () => {
    const policies = Array.from({ length: 5000 }, (_, i) => signedPolicy('pass', `policy-${i}-${'p'.repeat(40)}`));
    const { body } = encodeNotification(buildNotification(input({ verdict: verdictOf('admit', policies) })));
    const parsed = JSON.parse(body) as Notification;
    assert.ok(Buffer.byteLength(body) <= MAX_MESSAGE_BYTES);
    assert.ok(parsed.policies.length > 0);
    assert.equal(parsed.policies.length + parsed.policiesOmitted!, 5000);
  });
});

describe('SNS to SQS fan-out with team filter policies (fauxqs)', () => {
  let fx: TestFauxqs;
  before(async () => {
    fx = await startTestFauxqs();
  });
  after(() => fx.stop());

  async function queue(name: string, attributes?: Record<string, string>) {
    const { QueueUrl } = await fx.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    const { Attributes } = await fx.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    return { url: QueueUrl!, arn: Attributes!.QueueArn! };
  }

  async function drain(url: string): Promise<Message[]> {
    const all: Message[] = [];
    for (;;) {
      const { Messages = [] } = await fx.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 0,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'],
        }),
      );
      if (Messages.length === 0) return all;
      all.push(...Messages);
    }
  }

  it('delivers each team exactly the verdicts its filter policy selects, body and attributes intact', async () => {
    const { TopicArn } = await fx.sns.send(new CreateTopicCommand({ Name: 'sigwatch-verdicts' }));
    const a = await queue('team-payments');
    const b = await queue('team-retail');
    await fx.sns.send(
      new SubscribeCommand({
        TopicArn,
        Protocol: 'sqs',
        Endpoint: a.arn,
        Attributes: { FilterPolicy: JSON.stringify({ team: ['payments'], verdict: ['deny'] }) },
      }),
    );
    // Team B takes raw delivery: the attributes then arrive as SQS message attributes.
    await fx.sns.send(
      new SubscribeCommand({
        TopicArn,
        Protocol: 'sqs',
        Endpoint: b.arn,
        Attributes: { FilterPolicy: JSON.stringify({ team: ['retail'] }), RawMessageDelivery: 'true' },
      }),
    );
    const notifier = new SnsNotifier(fx.sns, () => TopicArn!);
    const sent = {
      payAdmit: note('payments', 'admit', `sha256:${'1'.repeat(64)}`),
      payDeny: note('payments', 'deny', `sha256:${'2'.repeat(64)}`),
      retailAdmit: note('retail', 'admit', `sha256:${'3'.repeat(64)}`),
      retailDeny: note('retail', 'deny', `sha256:${'4'.repeat(64)}`),
    };
    for (const n of Object.values(sent)) await notifier.publish(n);

    const toA = await drain(a.url);
    assert.equal(toA.length, 1);
    const envelope = JSON.parse(toA[0]!.Body!) as { Message: string; MessageAttributes: Record<string, { Type: string; Value: string }> };
    assert.deepEqual(JSON.parse(envelope.Message), sent.payDeny);
    assert.deepEqual(envelope.MessageAttributes, {
      verdict: { Type: 'String', Value: 'deny' },
      account: { Type: 'String', Value: '123456789012' },
      repository: { Type: 'String', Value: 'payments/api' },
      team: { Type: 'String', Value: 'payments' },
      policy: { Type: 'String.Array', Value: '["signed-by-ci"]' },
    });

    const toB = await drain(b.url);
    assert.deepEqual(
      toB.map((m) => JSON.parse(m.Body!) as Notification).sort((x, y) => x.digest.localeCompare(y.digest)),
      [sent.retailAdmit, sent.retailDeny],
    );
    const attrs = toB[0]!.MessageAttributes!;
    assert.equal(attrs.team?.DataType, 'String');
    assert.equal(attrs.team?.StringValue, 'retail');
    assert.equal(attrs.policy?.DataType, 'String.Array');
    assert.deepEqual(JSON.parse(attrs.policy!.StringValue!), ['signed-by-ci']);
  });

  it('gives a FIFO topic the digest as group id and a stable deduplication id, so a retried publish is delivered once', async () => {
    const { TopicArn } = await fx.sns.send(new CreateTopicCommand({ Name: 'sigwatch-verdicts.fifo', Attributes: { FifoTopic: 'true' } }));
    const q = await queue('team-payments.fifo', { FifoQueue: 'true' });
    await fx.sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: q.arn, Attributes: { RawMessageDelivery: 'true' } }));
    const notifier = new SnsNotifier(fx.sns, () => TopicArn!);
    const n = note('payments', 'deny');
    await notifier.publish(n);
    // The same verdict again (a retried SQS record): later time, new event id, same deduplication id.
    const retried = { ...n, time: '2025-01-02T03:05:00.000Z', eventId: 'evt-2' };
    assert.equal(deduplicationId(retried), deduplicationId(n));
    await notifier.publish(retried);

    const got = await drain(q.url);
    assert.equal(got.length, 1);
    assert.equal(got[0]!.Attributes?.MessageGroupId, DIGEST);
    assert.equal(got[0]!.Attributes?.MessageDeduplicationId, deduplicationId(n));
    assert.match(deduplicationId(n), /^[0-9a-f]{64}$/);
    assert.notEqual(deduplicationId({ ...n, trigger: 'policy-change' }), deduplicationId(n));
    assert.notEqual(
      deduplicationId({ ...n, policies: [{ ...n.policies[0]!, source: { file: 's3://policies/signed-by-ci.yaml', version: 'v8' } }] }),
      deduplicationId(n),
    );
  });

  it('publishes a truncated oversized notification that SNS accepts', async () => {
    const { TopicArn } = await fx.sns.send(new CreateTopicCommand({ Name: 'sigwatch-big' }));
    const q = await queue('team-big');
    await fx.sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: q.arn, Attributes: { RawMessageDelivery: 'true' } }));
    const reasons = Array.from({ length: 400 }, () => 'q'.repeat(1000));
    const n = buildNotification(input({ verdict: { ...verdictOf('deny'), reasons } }));
    await new SnsNotifier(fx.sns, () => TopicArn!).publish(n);
    const [got] = await drain(q.url);
    const parsed = JSON.parse(got!.Body!) as Notification;
    assert.equal(parsed.truncated, true);
    assert.equal(parsed.digest, DIGEST);
  });
});

describe('SnsNotifier retries (aws-sdk-client-mock)', () => {
  // Mocking the class mocks every instance, the fauxqs suite's too: only while this suite runs.
  let sns: AwsClientStub<SNSClient>;
  const TOPIC = 'arn:aws:sns:eu-west-1:999999999999:sigwatch-verdicts';
  let sleeps: number[];
  const notifier = (attempts?: number) =>
    new SnsNotifier(new SNSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret-test' } }), () => TOPIC, {
      attempts,
      sleep: async (ms) => void sleeps.push(ms),
      random: () => 0.5,
    });
  const throttled = () => new ThrottledException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } });

  before(() => {
    sns = mockClient(SNSClient);
  });
  beforeEach(() => {
    sns.reset();
    sleeps = [];
  });
  after(() => sns.restore());

  it('sends exactly the encoded message and attributes, without FIFO ids on a standard topic', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    const n = note('payments', 'deny');
    await notifier().publish(n);
    const { body, attributes } = encodeNotification(n);
    assert.deepEqual(sns.commandCalls(PublishCommand)[0]!.args[0].input, { TopicArn: TOPIC, Message: body, MessageAttributes: attributes });
  });

  it('adds MessageGroupId and MessageDeduplicationId on a .fifo topic', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    const n = note('payments', 'deny');
    const fifo = new SnsNotifier(new SNSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }), () => `${TOPIC}.fifo`);
    await fifo.publish(n);
    const sent = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    assert.equal(sent.TopicArn, `${TOPIC}.fifo`);
    assert.equal(sent.MessageGroupId, DIGEST);
    assert.equal(sent.MessageDeduplicationId, deduplicationId(n));
  });

  it('retries throttling and server faults with jittered, growing backoff, then succeeds', async () => {
    sns
      .on(PublishCommand)
      .rejectsOnce(throttled())
      .rejectsOnce(new InternalErrorException({ message: 'internal', $metadata: { httpStatusCode: 500 } }))
      .resolves({ MessageId: 'm-1' });
    await notifier().publish(note('payments', 'deny'));
    assert.equal(sns.commandCalls(PublishCommand).length, 3);
    assert.deepEqual(sleeps, [50, 100]);
  });

  it('gives up after the configured attempts with a SigwatchError that fails the record', async () => {
    sns.on(PublishCommand).rejects(throttled());
    await assert.rejects(notifier(3).publish(note('payments', 'deny')), (err) => {
      assert.ok(err instanceof SigwatchError);
      assert.equal(err.code, 'INTERNAL');
      assert.match(err.message, /after 3 attempts \(ThrottledException, HTTP 400\)$/);
      return true;
    });
    assert.equal(sns.commandCalls(PublishCommand).length, 3);
  });

  it('does not retry a permanent failure, and keeps the AWS message (which may echo the signed request) out of the error', async () => {
    sns
      .on(PublishCommand)
      .rejects(new AuthorizationErrorException({ message: 'Canonical request: x-amz-security-token:SECRET-TOKEN', $metadata: { httpStatusCode: 403 } }));
    await assert.rejects(notifier().publish(note('payments', 'deny')), (err) => {
      assert.ok(err instanceof SigwatchError);
      assert.equal(err.code, 'INTERNAL');
      assert.match(err.message, /not retried: the error is not transient \(AuthorizationErrorException, HTTP 403\)$/);
      assert.doesNotMatch(`${err.message} ${String(err.cause)} ${err.stack}`, /SECRET-TOKEN|secret-test|AKIDTEST/);
      return true;
    });
    assert.equal(sns.commandCalls(PublishCommand).length, 1);
    assert.deepEqual(sleeps, []);
  });
});

describe('StdoutNotifier', () => {
  it('prints the notification as pretty JSON, or as one line', async () => {
    let out = '';
    const writer = { write: (text: string) => (out += text) };
    const n = note('payments', 'deny');
    await new StdoutNotifier(writer).publish(n);
    assert.deepEqual(JSON.parse(out), n);
    out = '';
    await new StdoutNotifier(writer, 'line').publish(n);
    assert.equal(
      out,
      `DENY ${REGISTRY}/payments/api@${DIGEST} team=payments policies=signed-by-ci:fail trigger=push reason="signed-by-ci: no signature from https://github.com/acme/*"\n`,
    );
  });
});
