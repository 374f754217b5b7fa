/**
 * `npm run bench:report`: the posture report of 100 000 verdicts (BENCH_VERDICTS
 * to change it), the way `sigwatch report --verdicts FILE` makes it: the
 * verdicts file parsed and checked, the model built (page by page, as from
 * the table's scan), then HTML, JSON and CSV rendered and written.
 *
 * The verdicts are made up: 3 top-level groups, 6 teams, 24 accounts in 2
 * regions, 1 000 repositories; 70 % admit, 20 % deny, 7 % error, 3 % warn,
 * each failing image with two reasons of about 120 characters. Targets (the
 * bench fails past them): the whole report in under 5 s and under 1 GiB peak
 * RSS, for the Lambda that makes it at the end of a run (1024 MB, 60 s).
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/accounts/config.ts';
import { AccountDirectory } from '../src/accounts/groups.ts';
import { writeReportFiles } from '../src/report/outputs.ts';
import { PostureBuilder } from '../src/report/posture.ts';
import { readVerdictsFile } from '../src/report/verdicts-file.ts';
import type { VerdictRecord } from '../src/store/verdicts.ts';

const N = Number(process.env.BENCH_VERDICTS ?? 100_000);
const TARGET_MS = 5_000;
const TARGET_RSS_MIB = 1024;
const PAGE = 1_000;

const groups = ['acme', 'globex', 'initech'];
const teams = ['payments', 'retail', 'data', 'web', 'platform', 'ml'];
const accounts = Array.from({ length: 24 }, (_, i) => String(100000000000 + i * 1111));
const config = `defaults:
  roleName: sigwatch-member
operators:
  topicArn: arn:aws:sns:eu-west-1:999999999999:ops
groups:
${groups.map((g) => `  ${g}:\n    topicArn: arn:aws:sns:eu-west-1:999999999999:${g}\n`).join('')}${teams.map((t, i) => `  ${groups[i % 3]}/${t}:\n    team: ${t}\n`).join('')}associations:
${accounts.map((a, i) => `  - group: ${groups[(i % 6) % 3]}/${teams[i % 6]}\n    externalId: {inline: bench-external-id}\n    accounts:\n      - id: "${a}"\n        regions: [eu-west-1, us-east-1]\n`).join('')}`;
const parsed = parseConfig(config, { allowInlineExternalId: true });
if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
const directory = new AccountDirectory(parsed.config);

const day = 86_400_000;
const base = Date.parse('2026-11-23T03:17:00Z');
const verdicts: VerdictRecord[] = [];
for (let i = 0; i < N; i++) {
  const r = i % 100;
  const verdict = r < 70 ? 'admit' : r < 90 ? 'deny' : r < 97 ? 'error' : 'warn';
  verdicts.push({
    account: accounts[i % accounts.length]!,
    region: i % 2 ? 'us-east-1' : 'eu-west-1',
    repository: `team-${i % 1000}/service-${(i * 7) % 1000}`.slice(0, 40),
    digest: `sha256:${i.toString(16).padStart(64, '0')}`,
    verdict,
    reasons:
      verdict === 'admit'
        ? []
        : [
            `policy require-release-key (enforce): authority key-0: no matching signatures: signature of image ${i} not verified by the key`,
            `policy provenance: no attestation of type https://slsa.dev/provenance/v1 for image ${i}`,
          ],
    warnings: verdict === 'warn' ? ['sbom'] : [],
    time: new Date(base).toISOString(),
    since: new Date(base - (i % 90) * day).toISOString(),
    policyVersions: { 'policies/acme/require-release-key.yaml': 'v3' },
    policySetVersion: 'set-1',
    trigger: 'reverify',
  });
}
const work = mkdtempSync(join(tmpdir(), 'sigwatch-bench-report-'));
const file = join(work, 'verdicts.json');
writeFileSync(
  file,
  JSON.stringify({
    verdicts,
    runs: Array.from({ length: 29 }, (_, d) => ({
      runId: `reverify-${d}`,
      at: new Date(base - (29 - d) * day).toISOString(),
      counts: { images: N, admit: Math.round(N * 0.7), deny: Math.round(N * 0.2) + d, warn: Math.round(N * 0.03), error: Math.round(N * 0.07) - d },
    })),
  }),
);
verdicts.length = 0;
global.gc?.();
const rssBefore = process.memoryUsage().rss;

try {
  const t0 = performance.now();
  const input = await readVerdictsFile(file);
  const t1 = performance.now();
  const builder = new PostureBuilder({ directory, generatedAt: new Date(base).toISOString(), history: input.runs });
  for (let i = 0; i < input.verdicts.length; i += PAGE) builder.add(input.verdicts.slice(i, i + PAGE));
  const report = builder.build();
  const t2 = performance.now();
  const paths = await writeReportFiles(report, join(work, 'out'));
  const t3 = performance.now();
  const maxRssMiB = process.resourceUsage().maxRSS / 1024;
  const total = t3 - t0;
  const line = (label: string, value: string) => console.log(`  ${label.padEnd(36)} ${value}`);
  console.log(`posture report of ${N} verdicts (${report.failing.length} failing, ${report.groups.length} groups, ${report.trend.length} trend points)`);
  line('read and check the verdicts file', `${(t1 - t0).toFixed(0)} ms (${(statSync(file).size / 2 ** 20).toFixed(1)} MiB)`);
  line('build the model', `${(t2 - t1).toFixed(0)} ms`);
  line(
    'render and write HTML, JSON, CSV',
    `${(t3 - t2).toFixed(0)} ms (${paths.map((p) => `${p.split('/').pop()} ${(statSync(p).size / 2 ** 20).toFixed(1)} MiB`).join(', ')})`,
  );
  line('total', `${total.toFixed(0)} ms (target < ${TARGET_MS} ms)`);
  line('peak RSS', `${maxRssMiB.toFixed(0)} MiB (target < ${TARGET_RSS_MIB} MiB; ${(rssBefore / 2 ** 20).toFixed(0)} MiB before reading the file)`);
  if (total > TARGET_MS || maxRssMiB > TARGET_RSS_MIB) {
    console.log('over target');
    process.exitCode = 1;
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
