/**
 * Delivers notifications to SNS. A publish that still fails after a few
 * attempts throws, so that the caller fails the SQS record and the verdict is
 * retried (then dead-lettered) rather than lost.
 */
import { createHash } from 'node:crypto';
import { PublishCommand, type PublishCommandInput, type SNSClient } from '@aws-sdk/client-sns';
import { awsErrorLabel, isTransientAws } from '../aws-errors.ts';
import { SigwatchError } from '../errors.ts';
import { backoff, retry } from '../retry.ts';
import { encodeNotification, type Notification, type Notifier } from './notification.ts';

/** Which topic a notification goes to: one shared topic (teams filter) or one per team. */
export type TopicRouter = (n: Notification) => string;

export interface SnsNotifierOptions {
  /** Attempts per publish, the first included. */
  attempts?: number;
  /** Upper bound of the first retry's delay; doubled per retry, capped at `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Injected for tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

const DEFAULTS = { attempts: 4, baseDelayMs: 100, maxDelayMs: 2000 };

export class SnsNotifier implements Notifier {
  readonly #client: SNSClient;
  readonly #route: TopicRouter;
  readonly #options: SnsNotifierOptions;

  constructor(client: SNSClient, route: TopicRouter, options: SnsNotifierOptions = {}) {
    this.#client = client;
    this.#route = route;
    this.#options = options;
  }

  async publish(n: Notification): Promise<void> {
    return this.publishTo(n, this.#route(n));
  }

  /** Publishes to a topic chosen by the caller (the owning group's, or the operators'). */
  async publishTo(n: Notification, topicArn: string): Promise<void> {
    await publishWithRetries(this.#client, publishInput(n, topicArn), `the ${n.verdict} verdict for ${n.image}`, this.#options);
  }
}

/**
 * Publishes `input`, again after a jittered wait while the failure is
 * transient (throttling, a server fault, a lost connection). The error names
 * `what`, the topic, the attempts and the AWS error, never its message.
 */
export async function publishWithRetries(client: SNSClient, input: PublishCommandInput, what: string, options: SnsNotifierOptions = {}): Promise<void> {
  let tries = 0;
  const b = { baseMs: options.baseDelayMs ?? DEFAULTS.baseDelayMs, maxMs: options.maxDelayMs ?? DEFAULTS.maxDelayMs, random: options.random };
  try {
    await retry(
      () => {
        tries++;
        return client.send(new PublishCommand(input));
      },
      {
        attempts: options.attempts ?? DEFAULTS.attempts,
        retryAfter: (o, attempt) => (!o.ok && isTransientAws(o.error) ? backoff(attempt, b) : undefined),
        ...(options.sleep ? { sleep: options.sleep } : {}),
      },
    );
  } catch (err) {
    // No `cause`: callers log errors, and an AWS message can quote the signed request.
    const after = isTransientAws(err) ? `after ${tries} attempt${tries === 1 ? '' : 's'}` : 'not retried: the error is not transient';
    throw new SigwatchError('INTERNAL', `notify: publishing ${what} to ${input.TopicArn ?? ''} failed ${after} (${awsErrorLabel(err)})`);
  }
}

/** The PublishCommand input for `n` on `topicArn`; FIFO topics get a group and a deduplication id. */
function publishInput(n: Notification, topicArn: string): PublishCommandInput {
  const { body, attributes } = encodeNotification(n);
  return {
    TopicArn: topicArn,
    Message: body,
    MessageAttributes: attributes,
    // One group per image keeps an image's verdicts in order; different images do not wait on each other.
    ...(topicArn.endsWith('.fifo') ? { MessageGroupId: n.digest, MessageDeduplicationId: deduplicationId(n) } : {}),
  };
}

/**
 * Equal for two notifications that say the same thing about the same image
 * (digest, verdict, the policy versions that judged, trigger), whatever their
 * time or event id: a retried record inside the FIFO window is not delivered twice.
 */
export function deduplicationId(n: Notification): string {
  const versions = n.policies.map((p) => [p.name, p.source?.file ?? '', p.source?.version ?? '']).sort((a, b) => (a.join('\0') < b.join('\0') ? -1 : 1));
  return createHash('sha256')
    .update(JSON.stringify([n.digest, n.verdict, versions, n.trigger]))
    .digest('hex');
}
