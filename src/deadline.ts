import { SigwatchError } from './errors.ts';

/**
 * The one deadline mechanism: a verification's time budget is an AbortSignal
 * (`AbortSignal.timeout`, combined with the invocation's by `AbortSignal.any`)
 * carried with the record to every call made for it. Registry requests abort
 * on it, retries stop when their wait would pass it, and calls that cannot be
 * cancelled (SDK sessions shared between records) are raced against it, so a
 * record ends at its deadline whatever the other side does.
 *
 * What a signal alone cannot say (when it will fire, how big the budget was)
 * is kept beside it here, keyed by the signal, so that messages state the
 * time actually spent. Elapsed time is monotonic (`performance.now`), not the
 * composition's Clock: a deadline is a duration, never a date.
 */

interface Budget {
  startedAt: number;
  endsAt: number;
  budgetMs: number;
}

const budgets = new WeakMap<AbortSignal, Budget>();

/** The time a batch may take (from the Lambda context's remaining time, less a margin), shared out to its records. */
export interface BatchBudget {
  /** Aborts when the batch's time is up. */
  signal: AbortSignal;
  /** How long that is from when it was made. */
  ms: number;
}

/** A budget of `ms` from now. */
export function budget(ms: number): BatchBudget {
  return { signal: deadline(ms), ms };
}

/**
 * A signal that aborts after `ms`, or sooner when `parent` (the invocation's)
 * aborts. `origin`: the budget as the user set it and when it began (a
 * command's `--timeout`, counted from the process's start), for messages.
 */
export function deadline(ms: number, parent?: AbortSignal, origin?: { budgetMs: number; startedAt: number }): AbortSignal {
  const budgetMs = Math.max(0, Math.floor(ms));
  const own = AbortSignal.timeout(budgetMs);
  const signal = parent ? AbortSignal.any([parent, own]) : own;
  const now = performance.now();
  const inherited = parent ? budgets.get(parent) : undefined;
  const endsAt = Math.min(now + budgetMs, inherited?.endsAt ?? Infinity);
  budgets.set(signal, origin ? { startedAt: origin.startedAt, endsAt, budgetMs: origin.budgetMs } : { startedAt: now, endsAt, budgetMs: endsAt - now });
  return signal;
}

/** Milliseconds left before `signal` fires: Infinity without a deadline, 0 once it fired. */
export function remainingMs(signal: AbortSignal | undefined): number {
  if (!signal) return Infinity;
  if (signal.aborted) return 0;
  const b = budgets.get(signal);
  return b ? Math.max(0, b.endsAt - performance.now()) : Infinity;
}

/** Milliseconds since the deadline was set (undefined for a signal made elsewhere). */
export function elapsedMs(signal: AbortSignal | undefined): number | undefined {
  const b = signal && budgets.get(signal);
  return b ? performance.now() - b.startedAt : undefined;
}

/** `1.25 s`: how long, for people. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1).replace(/\.?0+$/, '')} s`;
}

/**
 * The error of a deadline that passed while `waitingFor` had not answered
 * after `waitedMs`: says what was waiting, for how long, and the budget.
 */
export function deadlineError(signal: AbortSignal | undefined, waitingFor: string, waitedMs: number): SigwatchError {
  const b = signal && budgets.get(signal);
  const budget = b ? ` (the verification's deadline of ${seconds(b.budgetMs)} passed after ${seconds(performance.now() - b.startedAt)})` : '';
  return new SigwatchError('DEADLINE', `still waiting for ${waitingFor} after ${seconds(waitedMs)}${budget}`);
}

/** Waits `ms`, or rejects with the deadline's error as soon as `signal` fires. */
export function sleepWithin(ms: number, signal: AbortSignal | undefined, waitingFor: string): Promise<void> {
  if (!signal) return new Promise((resolve) => setTimeout(resolve, ms));
  const started = performance.now();
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(deadlineError(signal, waitingFor, 0));
    const onAbort = () => {
      clearTimeout(timer);
      reject(deadlineError(signal, waitingFor, performance.now() - started));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * `work`, unless `signal` fires first: then a DEADLINE error naming
 * `waitingFor`. For calls that cannot be cancelled (a shared STS session, a
 * TUF refresh): the call goes on in the background, the record does not wait.
 */
export function withinDeadline<T>(work: Promise<T>, signal: AbortSignal | undefined, waitingFor: string): Promise<T> {
  if (!signal) return work;
  const started = performance.now();
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      work.catch(() => undefined);
      return reject(deadlineError(signal, waitingFor, 0));
    }
    const onAbort = () => reject(deadlineError(signal, waitingFor, performance.now() - started));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
