/**
 * Retries of AWS calls that were throttled. The SDK retries a few times on
 * its own; a run listing thousands of repositories can still exhaust that
 * when many accounts are listed at once, so throttling gets a longer,
 * jittered back-off here before the listing gives up.
 */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Full jitter, capped: concurrent planners throttled together do not come back together. */
export function backoffDelay(attempt: number, baseMs = 200, maxMs = 10_000, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(maxMs, baseMs * 2 ** (attempt - 1)));
}

const THROTTLING = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded', 'ProvisionedThroughputExceededException']);

export function isThrottling(err: unknown): boolean {
  const e = (err ?? {}) as { name?: string; $metadata?: { httpStatusCode?: number }; $retryable?: { throttling?: boolean } };
  return THROTTLING.has(e.name ?? '') || e.$metadata?.httpStatusCode === 429 || e.$retryable?.throttling === true;
}

export interface RetryOptions {
  attempts?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Called before each wait, for logs and counters. */
  onThrottle?: (attempt: number, delayMs: number) => void;
}

/** `call()`, again after a jittered wait while it is throttled, at most `attempts` times in all. */
export async function retryThrottled<T>(call: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = opts.attempts ?? 8;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!isThrottling(err) || attempt >= attempts) throw err;
      const delay = backoffDelay(attempt, 200, 10_000, opts.random);
      opts.onThrottle?.(attempt, delay);
      await (opts.sleep ?? sleep)(delay);
    }
  }
}
