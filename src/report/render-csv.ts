import type { PostureReport } from './posture.ts';

/**
 * The failing images as CSV, one row each (RFC 4180: CRLF line ends, a field
 * with a comma, quote, CR or LF quoted, quotes doubled). Repository names and
 * reasons come from member accounts and registries: a cell a spreadsheet
 * would read as a formula (starting with = + - @, a tab or a CR) gets a
 * leading apostrophe, OWASP's advice against CSV injection, so opening the
 * file never runs anything.
 */

const CSV_COLUMNS = ['group', 'team', 'account', 'region', 'repository', 'digest', 'verdict', 'since', 'lastVerified', 'trigger', 'reasons'] as const;

export function renderCsv(report: PostureReport): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const f of report.failing) {
    lines.push(
      [f.group, f.team, f.account, f.region, f.repository, f.digest, f.verdict, f.since, f.lastVerified, f.trigger, f.reasons.join(' | ')]
        .map(csvField)
        .join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

export function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
