import { createHash } from 'node:crypto';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { Notification } from '../notify/notification.ts';
import { publishWithRetries, SnsNotifier, type SnsNotifierOptions } from '../notify/sns.ts';

/**
 * Where re-verification speaks: verdict notifications (the on-push schema,
 * through SnsNotifier) to the topic the verification named, and sigwatch's
 * own run messages (summaries, failures) as JSON with a `type` attribute.
 */
export interface Topics {
  publishVerdict(n: Notification, topicArn: string): Promise<void>;
  publishMessage(topicArn: string, body: object, attributes: Record<string, string>): Promise<void>;
}

export class SnsTopics implements Topics {
  readonly #sns: SNSClient;
  readonly #options: SnsNotifierOptions;

  constructor(sns: SNSClient, opts: SnsNotifierOptions = {}) {
    this.#sns = sns;
    this.#options = opts;
  }

  async publishVerdict(n: Notification, topicArn: string): Promise<void> {
    await new SnsNotifier(this.#sns, () => topicArn, this.#options).publish(n);
  }

  async publishMessage(topicArn: string, body: object, attributes: Record<string, string>): Promise<void> {
    const fifo = topicArn.endsWith('.fifo');
    const message = JSON.stringify(body);
    const input = {
      TopicArn: topicArn,
      Message: message,
      MessageAttributes: Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }])),
      ...(fifo ? { MessageGroupId: 'sigwatch-runs', MessageDeduplicationId: createHash('sha256').update(message).digest('hex') } : {}),
    };
    await publishWithRetries(this.#sns, input, `a ${attributes.type ?? 'run'} message`, this.#options);
  }
}
