/**
 * The one retry mechanism. A caller says how many attempts it allows and,
 * for each outcome (an answer or an error), whether another attempt may help
 * and after how long; this runs the loop. Waits are jittered ("full jitter"):
 * concurrent Lambdas throttled together do not come back together.
 */

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

export interface RetryOptions<T> {
  /** Attempts in all, the first included (at least 1). */
  attempts: number;
  /**
   * The wait before another attempt after `outcome` of attempt `attempt`, or
   * undefined to end with it (an answer returned, an error thrown). Not asked
   * after the last attempt.
   */
  retryAfter: (outcome: Outcome<T>, attempt: number) => number | undefined;
  /** Waits `ms`; tests pass a recorder, registry calls a wait that ends at the deadline. */
  sleep?: (ms: number) => Promise<void>;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `call(attempt)` until an outcome ends it or the attempts run out; the last outcome is returned or thrown. */
export async function retry<T>(call: (attempt: number) => Promise<T>, opts: RetryOptions<T>): Promise<T> {
  const attempts = Math.max(1, opts.attempts);
  for (let attempt = 1; ; attempt++) {
    let outcome: Outcome<T>;
    try {
      outcome = { ok: true, value: await call(attempt) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    const wait = attempt < attempts ? opts.retryAfter(outcome, attempt) : undefined;
    if (wait === undefined) {
      if (outcome.ok) return outcome.value;
      throw outcome.error;
    }
    await (opts.sleep ?? sleep)(wait);
  }
}

export interface Backoff {
  /** Ceiling of the first wait; doubled per attempt. */
  baseMs: number;
  /** Ceiling of any wait. */
  maxMs: number;
  /** Injected for tests. */
  random?: () => number;
}

/** A full-jitter wait after attempt `attempt` (1-based): uniform in [0, min(max, base·2^(attempt-1))). */
export function backoff(attempt: number, b: Backoff): number {
  return Math.floor((b.random ?? Math.random)() * Math.min(b.maxMs, b.baseMs * 2 ** (attempt - 1)));
}
