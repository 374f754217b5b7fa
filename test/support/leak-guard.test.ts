import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import { assertNoSecrets, LEAK_GUARD_CANARY, secretsIn, TEST_SECRETS } from './secrets.ts';

/**
 * The leak guard (test/support/leak-guard.ts) is preloaded into every test
 * process by `npm test`. These tests run node processes with it and show that
 * a secret printed any way (console, stdout, stderr, bytes, inside a test)
 * fails the process, named by label, its value masked.
 */

const guard = join(import.meta.dirname, 'leak-guard.ts');
const TESTS = join(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'sigwatch-leak-guard-'));
after(() => rmSync(work, { recursive: true, force: true }));

function run(args: string[]) {
  // Without NODE_TEST_CONTEXT: a nested `node --test` would otherwise report to this runner instead of exiting.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const r = spawnSync(process.execPath, ['--import', guard, ...args], { encoding: 'utf8', cwd: join(TESTS, '..'), env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('leak guard', () => {
  for (const [how, code] of [
    ['console.log', `console.log('token is', ${JSON.stringify(LEAK_GUARD_CANARY)})`],
    ['console.error', `console.error({ secret: ${JSON.stringify(LEAK_GUARD_CANARY)} })`],
    ['process.stdout.write (bytes)', `process.stdout.write(Buffer.from('x ${LEAK_GUARD_CANARY} y\\n'))`],
    ['process.stderr.write', `process.stderr.write('${LEAK_GUARD_CANARY}\\n')`],
    ['Basic auth header', `console.log('Authorization: Basic ' + Buffer.from('ci:s3cret-pw').toString('base64'))`],
  ] as const) {
    it(`fails a process that prints a secret through ${how}, naming the label, masking the value`, () => {
      const r = run(['-e', code]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /leak-guard: test secret "[^"]+" appeared on /);
      for (const out of [r.stdout, r.stderr]) assert.deepEqual(secretsIn(out), [], out);
    });
  }

  it('lets a process that prints no secret exit 0, its output untouched', () => {
    const r = run(['-e', `console.log('verdict deny: no signatures found'); process.stdout.write(Buffer.from('ok\\n'))`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'verdict deny: no signatures found\nok\n');
    assert.equal(r.stderr, '');
  });

  it('fails a test file that logs a secret even when its assertions pass', () => {
    const file = join(work, 'leaks.test.ts');
    writeFileSync(file, `import { it } from 'node:test';\nit('passes', () => { console.log(${JSON.stringify(LEAK_GUARD_CANARY)}); });\n`);
    const r = run(['--test', file]);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /leak-guard: test secret "leak-guard canary" appeared on console\.log/);
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(LEAK_GUARD_CANARY));
  });
});

describe('assertNoSecrets', () => {
  it('names the secret and where it was found, never its value', () => {
    assert.throws(
      () => assertNoSecrets(`{"Message":"pull with ${LEAK_GUARD_CANARY}"}`, 'SNS message 3'),
      (err: Error) => err.message === 'SNS message 3 contains test secret(s): leak-guard canary' && !err.message.includes(LEAK_GUARD_CANARY),
    );
    assert.doesNotThrow(() => assertNoSecrets('{"verdict":"deny"}', 'SNS message 1'));
  });
});

describe('the secrets list', () => {
  // Credentials handed to sigwatch or its fakes, as the suite writes them.
  const ASSIGNMENT = /\b(?:password|secretAccessKey|accessKeyId|ExternalId|externalId|sessionToken|SessionToken|token)['"]?\s*[:=]\s*'([^'\n]{8,})'/g;
  const sources = (dir: string): string[] =>
    readdirSync(dir).flatMap((f) => {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) return f === 'corpus' || f === 'fixtures' ? [] : sources(p);
      return p.endsWith('.ts') && !p.endsWith('secrets.ts') ? [p] : [];
    });

  it('holds every credential of 8 characters or more that a test gives sigwatch', () => {
    const values = TEST_SECRETS.map((s) => s.value);
    const missing: string[] = [];
    for (const file of sources(TESTS)) {
      for (const m of readFileSync(file, 'utf8').matchAll(ASSIGNMENT)) {
        const value = m[1]!;
        if (value.includes('${') || values.some((v) => value.startsWith(v))) continue;
        missing.push(`${relative(TESTS, file)}: ${m[0]}`);
      }
    }
    assert.deepEqual(missing, [], 'add these to test/support/secrets.ts');
  });
});

describe('secret labels', () => {
  it('never contain a secret value, since the guard prints them', () => {
    for (const s of TEST_SECRETS) assert.deepEqual(secretsIn(s.label), [], s.label);
  });
});
