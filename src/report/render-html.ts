import type { Counts, PostureReport, TrendPoint } from './posture.ts';

/**
 * The report as one static HTML page: no script, no external asset (a
 * Content-Security-Policy that allows only the inline style says so to the
 * browser too), the trend as inline SVG, tables a screen reader can read.
 * Everything that comes from outside sigwatch (repository names, reasons,
 * group and team names) goes through `escapeHtml`: a hostile repository name
 * is text, never markup.
 */

/** Failing images listed on the page; the JSON and CSV list them all. */
export const MAX_HTML_FAILING = 2000;
/** Reasons shown per image on the page. */
const MAX_HTML_REASONS = 5;

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;'));
}

const e = escapeHtml;

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;color:#1b1f24;background:#fff;line-height:1.4}
h1{font-size:1.6rem;margin:0 0 .3rem}h2{font-size:1.25rem;margin:2rem 0 .6rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem}
.meta{color:#57606a;margin:0 0 1.2rem}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:0;padding:0;list-style:none}
.cards li{border:1px solid #d0d7de;border-radius:6px;padding:.6rem 1rem;min-width:7rem}
.cards .n{display:block;font-size:1.6rem;font-weight:600}
.admit .n{color:#1a7f37}.deny .n{color:#cf222e}.error .n{color:#9a6700}.warn .n{color:#bc4c00}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.4rem 0 1rem}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr.group td{background:#eaeef2;font-weight:600}tr.team td{background:#f6f8fa;font-weight:600}
.v-deny{color:#cf222e;font-weight:600}.v-error{color:#9a6700;font-weight:600}.v-warn{color:#bc4c00;font-weight:600}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85em;word-break:break-all}
ul.reasons{margin:0;padding-left:1.1rem}
svg{max-width:100%;height:auto}
.note{color:#57606a}
`;

export function renderHtml(report: PostureReport): string {
  const t = report.totals;
  const parts: string[] = [];
  parts.push(
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>sigwatch posture report ${e(report.generatedAt)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    '<h1>sigwatch posture report</h1>',
    `<p class="meta">Generated <time id="generated-at" datetime="${e(report.generatedAt)}">${e(report.generatedAt)}</time>${report.runId ? ` at the end of run <code id="run-id">${e(report.runId)}</code>` : ''}: every image sigwatch holds a verdict for. Schema ${e(report.schema)} v${report.schemaVersion}.</p>`,
    '<ul class="cards" id="totals">',
    card('images', 'images', t.images),
    card('admit', 'admitted', t.admit),
    card('deny', 'denied', t.deny),
    card('error', 'could not verify', t.error),
    card('warn', 'warned', t.warn),
    '</ul>',
  );
  parts.push('<h2 id="trend-heading">Trend</h2>', trendChart(report.trend), trendTable(report.trend));
  parts.push('<h2 id="posture-heading">By group, team, account and repository</h2>', postureTable(report));
  parts.push('<h2 id="failing-heading">Images that do not pass</h2>', failingTable(report));
  parts.push('</body>', '</html>', '');
  return parts.join('\n');
}

function card(cls: string, label: string, n: number): string {
  return `<li class="${cls}" data-count="${cls}"><span class="n">${n}</span>${label}</li>`;
}

function countCells(c: Counts): string {
  return `<td class="num">${c.images}</td><td class="num">${c.admit}</td><td class="num">${c.deny}</td><td class="num">${c.error}</td><td class="num">${c.warn}</td>`;
}

const COUNT_HEADERS =
  '<th scope="col" class="num">images</th><th scope="col" class="num">admit</th><th scope="col" class="num">deny</th><th scope="col" class="num">error</th><th scope="col" class="num">warn</th>';

function postureTable(report: PostureReport): string {
  if (report.groups.length === 0) return '<p class="note">No verdicts stored.</p>';
  const rows: string[] = [];
  for (const g of report.groups) {
    rows.push(`<tr class="group" data-group="${e(g.group)}"><td colspan="3">group <strong>${e(g.group)}</strong></td>${countCells(g.counts)}</tr>`);
    for (const t of g.teams) {
      rows.push(
        `<tr class="team" data-group="${e(g.group)}" data-team="${e(t.team)}"><td></td><td colspan="2">team <strong>${e(t.team)}</strong></td>${countCells(t.counts)}</tr>`,
      );
      for (const a of t.accounts) {
        for (const r of a.repositories) {
          rows.push(
            `<tr class="repository" data-group="${e(g.group)}" data-team="${e(t.team)}" data-account="${e(a.account)}" data-region="${e(a.region)}"><td></td><td><code>${e(a.account)}</code> ${e(a.region)}</td><td><code>${e(r.repository)}</code></td>${countCells(r.counts)}</tr>`,
          );
        }
      }
    }
  }
  return [
    '<table id="posture">',
    '<thead><tr><th scope="col">group</th><th scope="col">account / region</th><th scope="col">repository</th>' + COUNT_HEADERS + '</tr></thead>',
    '<tbody>',
    ...rows,
    '</tbody>',
    '</table>',
  ].join('\n');
}

function failingTable(report: PostureReport): string {
  if (report.failing.length === 0) return '<p class="note" id="no-failing">Every image passes.</p>';
  const shown = report.failing.slice(0, MAX_HTML_FAILING);
  const rows = shown.map((f) => {
    const reasons = f.reasons.slice(0, MAX_HTML_REASONS).map((r) => `<li>${e(r)}</li>`);
    if (f.reasons.length > MAX_HTML_REASONS) reasons.push(`<li class="note">${f.reasons.length - MAX_HTML_REASONS} more</li>`);
    return [
      `<tr class="failing" data-verdict="${e(f.verdict)}">`,
      `<td class="v-${e(f.verdict)}">${e(f.verdict)}</td>`,
      `<td>${e(f.group)}</td><td>${e(f.team)}</td>`,
      `<td><code>${e(f.account)}</code> ${e(f.region)}</td>`,
      `<td><code>${e(f.repository)}</code><br><code>${e(f.digest)}</code></td>`,
      `<td><time datetime="${e(f.since)}">${e(f.since)}</time></td>`,
      `<td><time datetime="${e(f.lastVerified)}">${e(f.lastVerified)}</time></td>`,
      `<td>${reasons.length > 0 ? `<ul class="reasons">${reasons.join('')}</ul>` : ''}</td>`,
      '</tr>',
    ].join('');
  });
  const omitted = report.failing.length - shown.length;
  return [
    `<p class="note">${report.failing.length} image${report.failing.length === 1 ? '' : 's'}, worst verdict first, then longest failing first.${omitted > 0 ? ` The first ${shown.length} are listed here; the JSON and CSV files list all ${report.failing.length}.` : ''}</p>`,
    '<table id="failing">',
    '<thead><tr><th scope="col">verdict</th><th scope="col">group</th><th scope="col">team</th><th scope="col">account / region</th><th scope="col">image</th><th scope="col">since</th><th scope="col">last verified</th><th scope="col">reasons</th></tr></thead>',
    '<tbody>',
    ...rows,
    '</tbody>',
    '</table>',
  ].join('\n');
}

const SERIES = [
  { key: 'deny', label: 'denied', colour: '#cf222e' },
  { key: 'error', label: 'could not verify', colour: '#9a6700' },
  { key: 'warn', label: 'warned', colour: '#bc4c00' },
  { key: 'admit', label: 'admitted', colour: '#1a7f37' },
] as const;

/** A line per verdict over the runs, on one scale from 0 to the largest count. */
function trendChart(points: readonly TrendPoint[]): string {
  const W = 720;
  const H = 240;
  const left = 56;
  const right = 150;
  const top = 16;
  const bottom = 40;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const max = Math.max(1, ...points.flatMap((p) => SERIES.map((s) => p.counts[s.key])));
  const x = (i: number) => left + (points.length === 1 ? plotW / 2 : (plotW * i) / (points.length - 1));
  const y = (v: number) => top + plotH - (plotH * v) / max;
  const out: string[] = [];
  const first = points[0];
  const last = points[points.length - 1];
  out.push(
    `<svg id="trend" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-labelledby="trend-title">`,
    `<title id="trend-title">Images per verdict over the last ${points.length} run${points.length === 1 ? '' : 's'}</title>`,
    `<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#57606a"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#57606a"/>`,
    `<text x="${left - 6}" y="${top + plotH}" font-size="11" text-anchor="end" dominant-baseline="middle">0</text>`,
    `<text x="${left - 6}" y="${top}" font-size="11" text-anchor="end" dominant-baseline="middle">${max}</text>`,
  );
  if (first && last) {
    out.push(`<text x="${x(0)}" y="${H - 14}" font-size="11" text-anchor="${points.length === 1 ? 'middle' : 'start'}">${e(first.at.slice(0, 10))}</text>`);
    if (points.length > 1) out.push(`<text x="${x(points.length - 1)}" y="${H - 14}" font-size="11" text-anchor="end">${e(last.at.slice(0, 10))}</text>`);
  }
  SERIES.forEach((s, k) => {
    const coords = points.map((p, i) => `${x(i).toFixed(1)},${y(p.counts[s.key]).toFixed(1)}`);
    if (points.length > 1)
      out.push(`<polyline class="series" data-series="${s.key}" fill="none" stroke="${s.colour}" stroke-width="2" points="${coords.join(' ')}"/>`);
    for (const c of coords) {
      const [cx, cy] = c.split(',');
      out.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${s.colour}"/>`);
    }
    const ly = top + 14 + k * 18;
    out.push(
      `<rect x="${left + plotW + 16}" y="${ly - 8}" width="12" height="12" fill="${s.colour}"/>`,
      `<text x="${left + plotW + 34}" y="${ly + 2}" font-size="12">${s.label}${last ? ` (${last.counts[s.key]})` : ''}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
}

/** The chart's numbers, for readers without the picture. */
function trendTable(points: readonly TrendPoint[]): string {
  const rows = points.map((p) => `<tr><td><code>${e(p.runId)}</code></td><td><time datetime="${e(p.at)}">${e(p.at)}</time></td>${countCells(p.counts)}</tr>`);
  return [
    '<details><summary>Trend as a table</summary>',
    '<table id="trend-table">',
    '<thead><tr><th scope="col">run</th><th scope="col">started</th>' + COUNT_HEADERS + '</tr></thead>',
    '<tbody>',
    ...rows,
    '</tbody>',
    '</table>',
    '</details>',
  ].join('\n');
}
