import { createHash } from 'node:crypto';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { SigwatchError } from '../errors.ts';
import type { Notification } from '../notify/notification.ts';
import { SnsNotifier } from '../notify/sns.ts';
import { backoffDelay, sleep as defaultSleep } from './backoff.ts';

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
  readonly #notifiers = new Map<string, SnsNotifier>();
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #attempts: number;

  constructor(sns: SNSClient, opts: { attempts?: number; sleep?: (ms: number) => Promise<void> } = {}) {
    this.#sns = sns;
    this.#attempts = opts.attempts ?? 4;
    this.#sleep = opts.sleep ?? defaultSleep;
  }

  async publishVerdict(n: Notification, topicArn: string): Promise<void> {
    let notifier = this.#notifiers.get(topicArn);
    if (!notifier) {
      notifier = new SnsNotifier(this.#sns, () => topicArn, { attempts: this.#attempts, sleep: this.#sleep });
      this.#notifiers.set(topicArn, notifier);
    }
    await notifier.publish(n);
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
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#sns.send(new PublishCommand(input));
        return;
      } catch (err) {
        const e = err as { name?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
        const status = e.$metadata?.httpStatusCode;
        const transient = Boolean(e.$retryable) || status === undefined || status === 429 || status >= 500;
        if (!transient || attempt >= this.#attempts) {
          throw new SigwatchError(
            'INTERNAL',
            `publishing a ${attributes.type ?? 'run'} message to ${topicArn} failed: ${e.name ?? 'Error'}${status !== undefined ? ` (HTTP ${status})` : ''}`,
          );
        }
        await this.#sleep(backoffDelay(attempt, 100, 2000));
      }
    }
  }
}
