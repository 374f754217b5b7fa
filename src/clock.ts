/**
 * The one source of "now" in a composition. Every part that reads time takes a
 * Clock as a required dependency, so a missed hand-off fails to type-check
 * instead of reading the wall clock on some later date. The process entry
 * points (Lambda handlers, the CLI) create one with `systemClock` and pass it
 * down; tests and `verify --at` pass a clock of their own.
 */

/** Milliseconds since the epoch. */
export type Clock = () => number;

/** The wall clock: only entry points use it. */
export const systemClock: Clock = () => Date.now();

/** A clock stopped at one instant (`verify --at`). */
export function fixedClock(at: number): Clock {
  return () => at;
}
