import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stringify } from 'yaml';

/*
 * The conformance runner reads cases in the format of OPA's test/cases/testdata
 * (which are not in this repository). These cases are our own, written in that
 * format, so that the runner itself is checked in CI: what passes, what fails,
 * what is excluded and why.
 */

const script = fileURLToPath(new URL('../../scripts/rego-conformance.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'sigwatch-rego-cases-'));
after(() => rmSync(root, { recursive: true, force: true }));

function write(category: string, name: string, cases: unknown[]) {
  mkdirSync(join(root, category), { recursive: true });
  writeFileSync(join(root, category, name), stringify({ cases }));
}

write('ours', 'basic.yaml', [
  {
    note: 'ours/set',
    query: 'data.t.p = x',
    modules: ['package t\n\np contains x if some x in input.xs\n'],
    input: { xs: [2, 1] },
    want_result: [{ x: [1, 2] }],
  },
  { note: 'ours/conflict', query: 'data.t.p = x', modules: ['package t\n\np := 1\n\np := 2\n'], want_error_code: 'eval_conflict_error' },
  { note: 'ours/input_term', query: 'data.t.p = x', modules: ['package t\n\np := input.a + 1\n'], input_term: '{"a": 41}', want_result: [{ x: 42 }] },
  { note: 'ours/wrong on purpose', query: 'data.t.p = x', modules: ['package t\n\np := 1\n'], want_result: [{ x: 2 }] },
  { note: 'ours/needs net', query: 'data.t.p = x', modules: ['package t\n\np := net.cidr_contains("10.0.0.0/8", "10.1.1.1")\n'], want_result: [{ x: true }] },
]);
write('httpsend', 'send.yaml', [{ note: 'httpsend/x', query: 'data.t.p = x', modules: ['package t\n\np := 1\n'], want_result: [{ x: 1 }] }]);

describe('scripts/rego-conformance.ts', () => {
  it('counts run, passed, failed and excluded cases by category, with reasons', async () => {
    const json = join(root, 'out.json');
    const out = await promisify(execFile)(process.execPath, [script, root, '--verbose', '--json', json], { encoding: 'utf8' });
    assert.match(out.stdout, /^ours\s+4\s+3\s+1\s+1\s+\(needs net\.cidr_contains\)/m);
    assert.match(out.stdout, /^httpsend\s+0\s+0\s+0\s+1\s+\(network access is refused by design\)/m);
    assert.match(out.stdout, /total: 4 run, 3 passed, 1 failed, 2 excluded; 75\.0 % of the run cases pass/);
    assert.match(out.stdout, /FAIL ours\/basic\.yaml :: ours\/wrong on purpose\n\s+got \[\{"x":1\}\], want \[\{"x":2\}\]/);
    const report = JSON.parse(readFileSync(json, 'utf8')) as { run: number; passed: number; excluded: number };
    assert.deepEqual([report.run, report.passed, report.excluded], [4, 3, 2]);
  });
});
