/**
 * The notifier for local runs (`sigwatch invoke`, `npm run demo`): the same
 * Notification a team would receive, written where a person can read it.
 */
import type { Notification, Notifier } from './notification.ts';

/** What the notifier writes to: `process.stdout`, or a collector in tests. */
export interface TextWriter {
  write(text: string): unknown;
}

export type StdoutFormat = 'json' | 'line';

export class StdoutNotifier implements Notifier {
  readonly #out: TextWriter;
  readonly #format: StdoutFormat;

  constructor(out: TextWriter, format: StdoutFormat = 'json') {
    this.#out = out;
    this.#format = format;
  }

  async publish(n: Notification): Promise<void> {
    this.#out.write(`${this.#format === 'line' ? summaryLine(n) : JSON.stringify(n, null, 2)}\n`);
  }

  /** The notification with the SNS topic it would be published to: `{topicArn, notification}`, or the line with `topic=ARN`. */
  async publishTo(n: Notification, topicArn: string): Promise<void> {
    this.#out.write(`${this.#format === 'line' ? `${summaryLine(n)} topic=${topicArn}` : JSON.stringify({ topicArn, notification: n }, null, 2)}\n`);
  }
}

/** One line per verdict, e.g. `DENY 1234….dkr.ecr…/app@sha256:… team=payments policies=signed:fail trigger=push`. */
export function summaryLine(n: Notification): string {
  const fields = [n.verdict.toUpperCase(), n.image];
  if (n.team !== undefined) fields.push(`team=${n.team}`);
  if (n.policies.length > 0) fields.push(`policies=${n.policies.map((p) => `${p.name}:${p.verdict}`).join(',')}`);
  fields.push(`trigger=${n.trigger}`);
  // The first reason is usually the one that decided; the JSON format has them all.
  if (n.verdict !== 'admit' && n.reasons[0] !== undefined) fields.push(`reason=${JSON.stringify(n.reasons[0])}`);
  return fields.join(' ');
}
