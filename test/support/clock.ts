import { fixedClock, type Clock } from '../../src/clock.ts';

/**
 * Tests' time: every scenario runs at a fixed instant (or moves a clock of
 * its own), never at today's date, so that no calendar day can break the suite.
 */
export const TEST_EPOCH = Date.parse('2026-11-23T10:00:00Z');

/** Stopped at TEST_EPOCH: for tests in which time does not move. */
export const testNow: Clock = fixedClock(TEST_EPOCH);

/** A clock a test moves by hand. */
export class ManualClock {
  #t: number;
  constructor(start = TEST_EPOCH) {
    this.#t = start;
  }
  readonly now: Clock = () => this.#t;
  advance(ms: number): void {
    this.#t += ms;
  }
  set(ms: number): void {
    this.#t = ms;
  }
}
