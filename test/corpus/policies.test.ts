import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { globRegExp } from '../../src/policy/glob.ts';
import { parsePolicyDocuments } from '../../src/policy/parse.ts';
import { formatProblem } from '../../src/policy/problems.ts';
import { compileGoRegExp } from '../../src/policy/regexp.ts';
import { generateKeyPair } from '../support/index.ts';
import { fill, loadCorpus } from './load.ts';
import { recordCorpusCase } from '../support/faults.ts';

/**
 * Hostile policies (test/corpus/policies): each YAML file is parsed as a
 * policy store would. Bad ones yield error problems naming the field and no
 * policy; policies that are valid but hostile (catastrophic regexps and
 * globs) load, and matching them against long input ends (the engine is RE2:
 * linear time), with no match. A hang shows as the per-test timeout.
 */

interface Expect {
  outcome: 'error' | 'loaded-bounded';
  message?: string;
  regexp?: 'subjectRegExp' | 'issuerRegExp';
  glob?: string;
  input?: { prefix?: string; repeat: string; times: number; suffix?: string };
  matches?: boolean;
}

const key = generateKeyPair();
const vars = { KEY_PEM_INDENTED: key.publicKeyPem.trim().split('\n').join('\n        ') };
const cases = loadCorpus<Expect>('policies');

/** Pads a policy to `size` bytes with an annotation, inside the document so that both size limits see it. */
function padded(yaml: string, size: number): string {
  const filler = Math.max(0, size - Buffer.byteLength(yaml));
  return yaml.replace('metadata:\n', `metadata:\n  annotations:\n    pad: "${'x'.repeat(filler)}"\n`);
}

describe('hostile policies corpus', () => {
  it('holds the cases the reliability note counts', () => {
    assert.ok(cases.length >= 60, `${cases.length} policy cases`);
  });

  for (const c of cases) {
    it(`${c.name}: ${c.why}`, { timeout: 20_000 }, () => {
      let yaml = fill(c.input.yaml, vars) as string;
      if (typeof c.input.padTo === 'number') yaml = padded(yaml, c.input.padTo);
      let outcome = 'crash';
      let crashed = true;
      try {
        const parsed = parsePolicyDocuments(yaml, { file: 'corpus.yaml' });
        crashed = false;
        const errors = parsed.problems.filter((p) => p.severity === 'error').map(formatProblem);
        if (c.expect.outcome === 'error') {
          outcome = parsed.policies.length === 0 ? 'error' : 'loaded';
          assert.deepEqual(parsed.policies, [], 'a hostile policy was loaded');
          assert.ok(errors.length > 0, 'no error problem');
          assert.ok(
            errors.some((e) => new RegExp(c.expect.message!).test(e)),
            `no problem matches /${c.expect.message}/: ${errors.slice(0, 3).join(' | ').slice(0, 600)}`,
          );
          for (const e of errors) assert.ok(e.length < 2_000, `problem of ${e.length} chars: ${e.slice(0, 200)}`);
          return;
        }
        outcome = 'loaded-bounded';
        assert.deepEqual(errors, []);
        assert.equal(parsed.policies.length, 1);
        const { prefix = '', repeat, times, suffix = '' } = c.expect.input!;
        const input = `${prefix}${repeat.repeat(times)}${suffix}`;
        if (c.expect.regexp) {
          const identity = parsed.policies[0]!.spec.authorities[0]!.keyless!.identities![0]!;
          const compiled = compileGoRegExp(identity[c.expect.regexp]!);
          assert.ok(compiled.ok);
          assert.equal(compiled.matcher.test(input), c.expect.matches);
        } else {
          // The glob's own expression: a name this long is no reference, but the matcher must still end.
          assert.equal(globRegExp(c.expect.glob!).test(input), c.expect.matches);
        }
      } finally {
        recordCorpusCase({ kind: 'policies', case: c.name, outcome, admitted: false, crashed });
      }
    });
  }
});
