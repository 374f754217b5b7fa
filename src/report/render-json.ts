import type { PostureReport } from './posture.ts';

/**
 * The report as JSON: the model itself, `schema` and `schemaVersion` first
 * (docs/report.md describes the fields). Indented: people read it too, and a
 * report of 100 000 images stays a few megabytes.
 */
export function renderJson(report: PostureReport): string {
  return `${JSON.stringify(report, null, 1)}\n`;
}
