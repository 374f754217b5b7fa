/**
 * Delivers notifications to SNS. A publish that still fails after a few
 * attempts throws, so that the caller fails the SQS record and the verdict is
 * retried (then dead-lettered) rather than lost.
 */
import { createHash } from 'node:crypto';
import { PublishCommand, type PublishCommandInput, type SNSClient } from '@aws-sdk/client-sns';
import { SigwatchError } from '../errors.ts';
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
  readonly #attempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;

  constructor(client: SNSClient, route: TopicRouter, options: SnsNotifierOptions = {}) {
    this.#client = client;
    this.#route = route;
    this.#attempts = Math.max(1, options.attempts ?? DEFAULTS.attempts);
    this.#baseDelayMs = options.baseDelayMs ?? DEFAULTS.baseDelayMs;
    this.#maxDelayMs = options.maxDelayMs ?? DEFAULTS.maxDelayMs;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#random = options.random ?? Math.random;
  }

  async publish(n: Notification): Promise<void> {
    return this.publishTo(n, this.#route(n));
  }

  /** Publishes to a topic chosen by the caller (the owning group's, or the operators'). */
  async publishTo(n: Notification, topicArn: string): Promise<void> {
    const input = publishInput(n, topicArn);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#client.send(new PublishCommand(input));
        return;
      } catch (err) {
        const transient = isTransient(err);
        if (!transient || attempt >= this.#attempts) throw publishError(n, input.TopicArn ?? '', err, attempt, transient);
        // Full jitter: concurrent Lambdas throttled together do not retry together.
        const ceiling = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (attempt - 1));
        await this.#sleep(Math.floor(this.#random() * ceiling));
      }
    }
  }
}

/** The PublishCommand input for `n` on `topicArn`; FIFO topics get a group and a deduplication id. */
export function publishInput(n: Notification, topicArn: string): PublishCommandInput {
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

interface AwsErrorShape {
  name?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const THROTTLING = new Set([
  'ThrottledException',
  'KMSThrottlingException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
]);
const NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN']);

/** Throttling, server faults and lost connections may pass on a retry; a 4xx (auth, bad topic) will not. */
function isTransient(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as AwsErrorShape;
  if (e.$retryable || THROTTLING.has(e.name ?? '')) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined) return status === 429 || status >= 500;
  return e.name === 'TimeoutError' || NETWORK.has(e.code ?? '');
}

/**
 * Names the error and its HTTP status but not its message, and keeps no
 * `cause`: AWS messages can echo the signed request (a SignatureDoesNotMatch
 * quotes the canonical request, session token included), and callers log errors.
 */
function publishError(n: Notification, topicArn: string, err: unknown, attempts: number, transient: boolean): SigwatchError {
  const e = (typeof err === 'object' && err !== null ? err : {}) as AwsErrorShape;
  const status = e.$metadata?.httpStatusCode;
  const what = `${e.name ?? 'Error'}${status !== undefined ? ` (HTTP ${status})` : ''}`;
  const tries = transient ? `after ${attempts} attempt${attempts === 1 ? '' : 's'}` : 'not retried: the error is not transient';
  return new SigwatchError('INTERNAL', `notify: publishing the ${n.verdict} verdict for ${n.image} to ${topicArn} failed ${tries}: ${what}`);
}
