/**
 * What every command shares with the process: its output and its clock.
 * Apart from main.ts, so that commands import it without importing the
 * dispatcher that imports them.
 */
import type { Clock } from '../clock.ts';

export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** The run's one clock: every command's composition reads time only through it. */
  now: Clock;
  /**
   * When the command started, on the monotonic clock (`performance.now()`):
   * `verify --timeout` counts from here. The process itself passes 0 (its
   * start, so loading the code counts too); in-process callers leave it out.
   */
  startedAt?: number;
}
