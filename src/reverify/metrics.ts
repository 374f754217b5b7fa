/**
 * CloudWatch embedded metric format: a log line that CloudWatch turns into
 * metrics without an API call (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
 * The run id is a property, not a dimension: one metric per run would be a
 * new metric every day.
 */

import { METRICS_NAMESPACE } from '../observability/metrics.ts';

export { METRICS_NAMESPACE };

export function emf(
  fn: string,
  metrics: Record<string, number>,
  properties: Record<string, unknown>,
  /** The EMF timestamp: the composition's clock, read by the caller. */
  now: number,
): Record<string, unknown> {
  return {
    _aws: {
      Timestamp: now,
      CloudWatchMetrics: [{ Namespace: METRICS_NAMESPACE, Dimensions: [['function']], Metrics: Object.keys(metrics).map((Name) => ({ Name, Unit: 'Count' })) }],
    },
    function: fn,
    ...properties,
    ...metrics,
  };
}
