import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SigwatchError } from '../../src/errors.ts';
import { parseReference } from '../../src/registry/reference.ts';
import { parseImageTarget } from '../../src/registry/target.ts';
import { loadCorpus } from './load.ts';
import { recordCorpusCase } from '../support/faults.ts';

/**
 * Hostile image references (test/corpus/references), as `sigwatch verify`
 * and `source.oci` receive them: every one is REFERENCE_INVALID with
 * go-containerregistry's "could not parse reference" and the input quoted,
 * never a TypeError and never a reference to some other image. Cases marked
 * `grammar: distribution` pass go-containerregistry's parse (policy matching)
 * and are refused as images to fetch.
 */

const cases = loadCorpus<{ code: string; message: string; grammar?: 'distribution' }>('references');

describe('hostile references corpus', () => {
  it('holds the cases the reliability note counts', () => {
    assert.ok(cases.length >= 30, `${cases.length} reference cases`);
  });

  for (const c of cases) {
    it(`${c.name}: ${c.why}`, () => {
      const reference = c.input.reference as string;
      let crashed = false;
      let outcome = 'error';
      try {
        // A name only the distribution grammar refuses is one go-containerregistry accepts: policy matching
        // names it as policy-controller would, and every fetch of it is refused.
        if (c.expect.grammar === 'distribution') assert.ok(parseReference(reference), 'go-containerregistry accepts it');
        const parsers = c.expect.grammar === 'distribution' ? [() => parseImageTarget(reference)] : [() => parseReference(reference), () => parseImageTarget(reference)];
        for (const parse of parsers) {
          let caught: unknown;
          try {
            const parsed = parse();
            outcome = 'parsed';
            assert.fail(`parsed as ${JSON.stringify(parsed).slice(0, 300)}`);
          } catch (err) {
            caught = err;
          }
          if (!(caught instanceof SigwatchError)) {
            if ((caught as Error).name !== 'AssertionError') crashed = true;
            throw caught;
          }
          assert.equal(caught.code, c.expect.code);
          assert.match(caught.message, /^could not parse reference: /);
          assert.match(caught.message, new RegExp(c.expect.message));
          if (c.expect.grammar === 'distribution') assert.match(caught.message, /: not a distribution reference\)$/);
        }
      } finally {
        recordCorpusCase({ kind: 'references', case: c.name, outcome, admitted: false, crashed });
      }
    });
  }
});
