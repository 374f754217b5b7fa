import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIncoming } from '../../src/events/envelope.ts';
import { loadCorpus } from './load.ts';
import { recordCorpusCase } from '../support/faults.ts';

/**
 * Hostile events (test/corpus/events): each is given to parseIncoming as the
 * text of an invoke file or Lambda payload. None may be accepted, none may
 * throw; each is a batch error or a per-record rejection whose reason names
 * the field (`detail.image-digest: …`) and stays short whatever the input.
 */

interface Expect {
  outcome: 'rejected' | 'batch-error' | 'ignored';
  reason: string;
}

const cases = loadCorpus<Expect>('events');
const MAX_REASON_CHARS = 400;

describe('hostile events corpus', () => {
  it('holds the cases the reliability note counts', () => {
    assert.ok(cases.length >= 100, `${cases.length} event cases`);
  });

  for (const c of cases) {
    it(`${c.name}: ${c.why}`, () => {
      let outcome = 'crash';
      let crashed = true;
      try {
        const batch = parseIncoming(c.input.text as string);
        crashed = false;
        if (batch.batchError !== undefined) {
          outcome = 'batch-error';
          assert.equal(batch.records.length, 0);
          assert.equal(c.expect.outcome, 'batch-error', `got a batch error: ${batch.batchError}`);
          assert.match(batch.batchError, new RegExp(c.expect.reason));
          assert.ok(batch.batchError.length <= MAX_REASON_CHARS, `reason of ${batch.batchError.length} chars`);
          return;
        }
        assert.ok(batch.records.length > 0, 'a batch with neither records nor a batch error');
        for (const record of batch.records) {
          const parsed = record.parsed;
          assert.equal(parsed.ok, false, `accepted: ${JSON.stringify(parsed).slice(0, 200)}`);
          if (parsed.ok) continue;
          outcome = parsed.ignored ? 'ignored' : 'rejected';
          assert.equal(outcome, c.expect.outcome, `reason: ${parsed.reason}`);
          assert.match(parsed.reason, new RegExp(c.expect.reason));
          assert.ok(parsed.reason.length <= MAX_REASON_CHARS, `reason of ${parsed.reason.length} chars`);
        }
      } finally {
        recordCorpusCase({ kind: 'events', case: c.name, outcome, admitted: outcome === 'accepted', crashed });
      }
    });
  }
});
