import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parsePolicyDocuments } from '../src/policy/parse.ts';
import type { PolicyProblem } from '../src/policy/problems.ts';
import { identityRegExp, isPublicKeyPem } from '../src/policy/validate.ts';

/**
 * One rule per fixture name, a failing document in invalid/ and its fixed
 * twin in valid/. Each fixture states what it must produce in its header:
 *   # expect error: FIELD.PATH :: MESSAGE
 * and the findings must be exactly those (warnings included).
 */
const FIXTURES = new URL('./fixtures/policies/', import.meta.url);

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
    assert.deepEqual(readdirSync(new URL('valid/', FIXTURES)).filter((f) => f.endsWith('.yaml')).sort(), [...rules].sort());
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
  const findings = (re: string) =>
    parsePolicyDocuments(subjectRegExp(re), { file: 'f.yaml' }).problems.map((p) => `${p.severity}: ${p.message}`);

  it('reports Go RE2 messages for what RE2 refuses', () => {
    assert.deepEqual(findings('^a**$'), ['error: invalid value: ^a**$: regex is invalid: error parsing regexp: invalid nested repetition operator: `**`']);
    assert.deepEqual(findings('^a{1001}$'), ['error: invalid value: ^a{1001}$: regex is invalid: error parsing regexp: invalid repeat count: `{1001}`']);
    assert.deepEqual(findings('^(?<=a)b$'), ['error: invalid value: ^(?<=a)b$: regex is invalid: error parsing regexp: invalid named capture: `(?<=a)b$`']);
    assert.deepEqual(findings('^(a$'), ['error: invalid value: ^(a$: regex is invalid: error parsing regexp: missing closing ): `^(a$`']);
    assert.deepEqual(findings('^a)$'), ['error: invalid value: ^a)$: regex is invalid: error parsing regexp: unexpected ): `^a)$`']);
    assert.deepEqual(findings('^[a$'), ['error: invalid value: ^[a$: regex is invalid: error parsing regexp: missing closing ]: `[a$`']);
  });

  it('accepts what RE2 and JavaScript read alike, warning only when unanchored', () => {
    assert.deepEqual(findings('^(?:a|b)+@example\\.com$'), []);
    assert.deepEqual(findings('^(?<user>[a-z]+)@example\\.com$'), []);
    assert.deepEqual(findings('.*@example\\.com.*'), []);
    assert.deepEqual(findings('^a$|^b$'), []);
    assert.deepEqual(findings('a|b'), [
      'warning: sigwatch: "a|b" is not anchored, so it matches anywhere in the value (as in policy-controller); to match the whole value write "^(?:a|b)$"',
    ]);
    assert.deepEqual(findings('^release@example\\.com'), [
      'warning: sigwatch: "^release@example\\.com" is not anchored, so it matches anywhere in the value (as in policy-controller); to match the whole value write "^release@example\\.com$"',
    ]);
  });

  it('refuses RE2-only syntax that JavaScript would read differently', () => {
    for (const [re, construct] of [
      ['\\Aabc\\z', '\\A'],
      ['^(?P<n>a)$', '(?P<'],
      ['^[[:alpha:]]+$', '[[:'],
      ['^\\pL+$', '\\pL'],
      ['^a{,2}$', '{'],
    ] as const) {
      const [finding] = findings(re);
      assert.match(finding!, new RegExp(`sigwatch does not support the RE2 syntax \`${construct.replace(/[\\[{(?]/g, '\\$&')}\``), re);
    }
  });

  it('is evaluated unanchored, as upstream does', () => {
    assert.ok(identityRegExp('github\\.com/example/').test('https://github.com/example/repo'));
  });
});
