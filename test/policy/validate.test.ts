import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parsePolicyDocuments } from '../../src/policy/parse.ts';
import type { PolicyProblem } from '../../src/policy/problems.ts';
import { isPublicKeyPem } from '../../src/policy/go-decode.ts';
import { compileGoRegExp, type GoRegExp } from '../../src/policy/regexp.ts';

/**
 * One rule per fixture name, a failing document in invalid/ and its fixed
 * twin in valid/. Each fixture states what it must produce in its header:
 *   # expect error: FIELD.PATH :: MESSAGE
 * and the findings must be exactly those (warnings included).
 */
const FIXTURES = new URL('../fixtures/policies/', import.meta.url);

type Finding = Pick<PolicyProblem, 'severity' | 'path' | 'message'>;

function expectations(text: string): Finding[] {
  const found: Finding[] = [];
  for (const m of text.matchAll(/^# expect (error|warning): (.*?) :: (.*)$/gm)) {
    const message = m[3]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    found.push({ severity: m[1] as Finding['severity'], path: m[2]!, message });
  }
  return found;
}

function sorted(findings: Finding[]): Finding[] {
  return [...findings].sort((a, b) => `${a.path}|${a.message}`.localeCompare(`${b.path}|${b.message}`));
}

function check(kind: 'invalid' | 'valid', name: string) {
  const text = readFileSync(new URL(`${kind}/${name}`, FIXTURES), 'utf8');
  const expected = expectations(text);
  const parsed = parsePolicyDocuments(text, { file: name });
  const got = parsed.problems.map(({ severity, path, message }) => ({ severity, path, message }));
  assert.deepEqual(sorted(got), sorted(expected));
  const accepted = parsed.policies.length + parsed.trustRoots.length;
  assert.equal(accepted, expected.some((e) => e.severity === 'error') ? 0 : 1, 'an erroneous document is dropped, any other kept');
}

const rules = readdirSync(new URL('invalid/', FIXTURES)).filter((f) => f.endsWith('.yaml'));

describe('policy rules (fixtures)', () => {
  it('has a valid twin for every invalid fixture', () => {
    assert.deepEqual(
      readdirSync(new URL('valid/', FIXTURES))
        .filter((f) => f.endsWith('.yaml'))
        .sort(),
      [...rules].sort(),
    );
    assert.ok(rules.length >= 70);
  });
  for (const rule of rules) {
    it(`${rule.replace(/\.yaml$/, '')}: rejects or warns exactly as expected`, () => check('invalid', rule));
    it(`${rule.replace(/\.yaml$/, '')}: the fixed document passes`, () => check('valid', rule));
  }
});

describe('public keys (key.data)', () => {
  const pem = readFileSync(new URL('valid/key-data-pem.yaml', FIXTURES), 'utf8').match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/)![0];
  const key = pem.replace(/^ +/gm, '');

  it('accepts the first PEM block, with text around it, as Go pem.Decode does', () => {
    assert.ok(isPublicKeyPem(key));
    assert.ok(isPublicKeyPem(`a comment\n${key}\ntrailing text`));
  });

  it('refuses other PEM types, broken base64 and non-PEM text', () => {
    assert.ok(!isPublicKeyPem(key.replace(/PUBLIC KEY/g, 'PRIVATE KEY')));
    assert.ok(!isPublicKeyPem(key.replace('MFkw', 'MF!w')));
    assert.ok(!isPublicKeyPem('---somedata---'));
    assert.ok(!isPublicKeyPem(`prefix-on-the-same-line ${key}`));
  });
});

describe('KMS references (key.kms)', () => {
  const problems = (kms: string) =>
    parsePolicyDocuments(
      JSON.stringify({
        apiVersion: 'policy.sigstore.dev/v1beta1',
        kind: 'ClusterImagePolicy',
        metadata: { name: 'p' },
        spec: { images: [{ glob: '**' }], authorities: [{ key: { kms } }] },
      }),
      { file: 'f.json' },
    ).problems.map((p) => p.message);

  it('reads AWS key forms with Go regexps, whose `.` also matches \\r and U+2028', () => {
    assert.deepEqual(problems('awskms:///arn:aws:kms:eu-west-1:123456789012:alias/release\u2028signing'), []);
    assert.deepEqual(problems('awskms:///alias/release\rsigning'), [
      'invalid value: awskms:///alias/release\rsigning: failed to parse either key or alias arn: arn: invalid prefix',
    ]);
  });
});

describe('identity regexps', () => {
  const subjectRegExp = (re: string) => `apiVersion: policy.sigstore.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {name: p}
spec:
  images: [{glob: "**"}]
  authorities:
  - keyless:
      identities: [{issuer: "https://accounts.google.com", subjectRegExp: ${JSON.stringify(re)}}]
`;
  const findings = (re: string) => parsePolicyDocuments(subjectRegExp(re), { file: 'f.yaml' }).problems.map((p) => `${p.severity}: ${p.message}`);

  it('reports Go RE2 messages for what RE2 refuses', () => {
    assert.deepEqual(findings('^a**$'), ['error: invalid value: ^a**$: regex is invalid: error parsing regexp: invalid nested repetition operator: `**`']);
    assert.deepEqual(findings('^a{1001}$'), ['error: invalid value: ^a{1001}$: regex is invalid: error parsing regexp: invalid repeat count: `{1001}`']);
    assert.deepEqual(findings('^(?<=a)b$'), ['error: invalid value: ^(?<=a)b$: regex is invalid: error parsing regexp: invalid named capture: `(?<=a)b$`']);
    assert.deepEqual(findings('^(a$'), ['error: invalid value: ^(a$: regex is invalid: error parsing regexp: missing closing ): `^(a$`']);
    assert.deepEqual(findings('^a)$'), ['error: invalid value: ^a)$: regex is invalid: error parsing regexp: unexpected ): `^a)$`']);
    assert.deepEqual(findings('^[a$'), ['error: invalid value: ^[a$: regex is invalid: error parsing regexp: missing closing ]: `[a$`']);
    assert.deepEqual(findings('^(?=a)b$'), [
      'error: invalid value: ^(?=a)b$: regex is invalid: error parsing regexp: invalid or unsupported Perl syntax: `(?=`',
    ]);
    assert.deepEqual(findings('^(a)\\1$'), ['error: invalid value: ^(a)\\1$: regex is invalid: error parsing regexp: invalid escape sequence: `\\1`']);
    assert.deepEqual(findings('^\\u0041$'), ['error: invalid value: ^\\u0041$: regex is invalid: error parsing regexp: invalid escape sequence: `\\u`']);
    assert.deepEqual(findings('^[[:word2:]]$'), [
      'error: invalid value: ^[[:word2:]]$: regex is invalid: error parsing regexp: invalid character class range: `[:word2:]`',
    ]);
    // Go prints the empty text too.
    assert.deepEqual(findings('^a\\'), ['error: invalid value: ^a\\: regex is invalid: error parsing regexp: trailing backslash at end of expression: ``']);
  });

  it('accepts RE2 syntax, warning only when unanchored', () => {
    for (const re of [
      '^(?:a|b)+@example\\.com$',
      '^(?<user>[a-z]+)@example\\.com$',
      '^(?P<user>[a-z]+)@example\\.com$',
      '.*@example\\.com.*',
      '^a$|^b$',
      '(?i)^release@example\\.com$',
      '(?i)(?s)^a.b$',
      '\\Arelease@example\\.com\\z',
      '^[[:alpha:]]+@example\\.com$',
      '^[^[:space:]|]+$',
      '^\\pL+$',
      '^\\p{Greek}+$',
      '^\\Qa.b|c\\E$',
      '^a{,2}$',
      '^\\x{1F600}$',
    ]) {
      assert.deepEqual(findings(re), [], re);
    }
    assert.deepEqual(findings('a|b'), [
      'warning: sigwatch: "a|b" is not anchored, so it matches anywhere in the value (as in policy-controller); to match the whole value write "^(?:a|b)$"',
    ]);
    assert.deepEqual(findings('^release@example\\.com'), [
      'warning: sigwatch: "^release@example\\.com" is not anchored at the end, so it also matches values that merely start with it (as in policy-controller); to match the whole value write "^release@example\\.com$"',
    ]);
    assert.deepEqual(findings('(?i)release@example\\.com\\$'), [
      'warning: sigwatch: "(?i)release@example\\.com\\$" is not anchored, so it matches anywhere in the value (as in policy-controller); to match the whole value write "^(?i)release@example\\.com\\$$"',
    ]);
    // In multi-line mode `^` and `$` match at every line.
    assert.deepEqual(findings('(?m)^release$'), [
      'warning: sigwatch: "(?m)^release$" is not anchored, so it matches anywhere in the value (as in policy-controller); to match the whole value write "^(?:(?m)^release$)$"',
    ]);
  });

  it('suggests anchors that still match what the author meant', () => {
    const advice = (re: string) => findings(re).map((f) => /write "(.*)"$/.exec(f)?.[1]);
    // A path prefix is anchored where it matters: adding `$` would deny every workflow under it.
    assert.deepEqual(findings('^https://github\\.com/acme/'), []);
    assert.deepEqual(findings('^https:\\/\\/github\\.com\\/acme\\/'), []);
    assert.deepEqual(advice('https://github\\.com/acme/'), ['^https://github\\.com/acme/']);
    // Subjects and issuers are URLs: a host without a scheme gets one, or nothing would match.
    assert.deepEqual(advice('github\\.com/acme/'), ['^https://github\\.com/acme/']);
    assert.deepEqual(advice('token\\.actions\\.githubusercontent\\.com'), ['^https://token\\.actions\\.githubusercontent\\.com$']);
    // A domain suffix: any mailbox there.
    assert.deepEqual(advice('@acme\\.com$'), ['^[^@]+@acme\\.com$']);
    // Each suggestion matches what was meant, and not the forgery the warning is about.
    const cases: [string, string, string][] = [
      [
        'https://github\\.com/acme/',
        'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1',
        'https://evil.example/?https://github.com/acme/x',
      ],
      ['github\\.com/acme/', 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1', 'https://evil.example/github.com/acme/x'],
      ['@acme\\.com$', 'release@acme.com', 'release@evil.example?@acme.com'],
      [
        '^https://github\\.com/acme/app/\\.github/workflows/release\\.yml@refs/tags/v1',
        'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1',
        'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v10',
      ],
    ];
    for (const [re, meant, forged] of cases) {
      const suggested = advice(re)[0]!;
      const compiled = compileGoRegExp(suggested);
      assert.ok(compiled.ok, suggested);
      assert.ok(compiled.matcher.test(meant), `${suggested} should match ${meant}`);
      assert.ok(!compiled.matcher.test(forged), `${suggested} should not match ${forged}`);
    }
  });

  it("matches with Go's meaning, not JavaScript's", () => {
    const matcher = (re: string): GoRegExp => {
      const compiled = compileGoRegExp(re);
      assert.ok(compiled.ok, re);
      return compiled.matcher;
    };
    assert.ok(matcher('(?i)^release@example\\.com$').test('Release@Example.com'));
    assert.ok(matcher('\\Aabc\\z').test('abc'));
    assert.ok(!matcher('\\Aabc\\z').test('abc\n'));
    assert.ok(matcher('^[[:alpha:]]+$').test('abc'));
    assert.ok(!matcher('^[[:alpha:]]+$').test('ab1'));
    // A literal `{` in RE2, a syntax error in JavaScript's unicode mode.
    assert.ok(matcher('^a{,2}$').test('a{,2}'));
    // `\s` is ASCII white space and `.` stops only at `\n`.
    assert.ok(!matcher('^\\s$').test('\u00a0'));
    assert.ok(matcher('^a.b$').test('a\rb'));
    assert.ok(!matcher('^a.b$').test('a\nb'));
  });

  it('matches in linear time, whatever the pattern', () => {
    // Catastrophic for a backtracking engine: 2^50000 ways to split the run of a's.
    const compiled = compileGoRegExp('(a+)+$');
    assert.ok(compiled.ok);
    const started = performance.now();
    assert.equal(compiled.matcher.test(`${'a'.repeat(50000)}b`), false);
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 1000, `took ${elapsed} ms`);
  });

  it('is evaluated unanchored, as upstream does', () => {
    const compiled = compileGoRegExp('github\\.com/example/');
    assert.ok(compiled.ok);
    assert.ok(compiled.matcher.test('https://github.com/example/repo'));
  });
});
