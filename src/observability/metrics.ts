/**
 * Metrics in CloudWatch's Embedded Metric Format: a log line that CloudWatch
 * turns into metrics, with no API call and no extra latency in the function.
 * One line per set of dimension values is written by `flush()`, at the end of
 * an invocation.
 */

export type Unit = 'Count' | 'Milliseconds';
import type { Clock } from '../clock.ts';

export interface Metrics {
  add(name: string, value: number, unit: Unit, dimensions?: Record<string, string>): void;
  flush(): void;
}

export const METRICS_NAMESPACE = 'sigwatch';

export class EmfMetrics implements Metrics {
  readonly #write: (line: string) => void;
  readonly #base: Record<string, string>;
  readonly #now: Clock;
  readonly #pending = new Map<string, { dimensions: Record<string, string>; values: Map<string, { unit: Unit; values: number[] }> }>();

  constructor(opts: { write: (line: string) => void; dimensions: Record<string, string>; now: Clock }) {
    this.#write = opts.write;
    this.#base = opts.dimensions;
    this.#now = opts.now;
  }

  add(name: string, value: number, unit: Unit, dimensions: Record<string, string> = {}): void {
    const all = { ...this.#base, ...dimensions };
    const key = JSON.stringify(Object.entries(all).sort());
    let group = this.#pending.get(key);
    if (!group) this.#pending.set(key, (group = { dimensions: all, values: new Map() }));
    let metric = group.values.get(name);
    if (!metric) group.values.set(name, (metric = { unit, values: [] }));
    metric.values.push(value);
  }

  flush(): void {
    for (const { dimensions, values } of this.#pending.values()) {
      const fields: Record<string, unknown> = { ...dimensions };
      for (const [name, m] of values) fields[name] = m.values.length === 1 ? m.values[0] : m.values;
      this.#write(
        JSON.stringify({
          _aws: {
            Timestamp: this.#now(),
            CloudWatchMetrics: [
              {
                Namespace: METRICS_NAMESPACE,
                Dimensions: [Object.keys(dimensions)],
                Metrics: [...values].map(([name, m]) => ({ Name: name, Unit: m.unit })),
              },
            ],
          },
          ...fields,
        }),
      );
    }
    this.#pending.clear();
  }
}

/** Metrics that go nowhere: local runs and tests that do not look at them. */
export const noMetrics: Metrics = { add: () => {}, flush: () => {} };
