import assert from 'node:assert/strict';
import { SigwatchError } from '../../src/errors.ts';

/** Asserts a rejection with a SigwatchError of `code` whose message is (or matches) `message`. */
export async function rejectsWith(promise: Promise<unknown>, code: string, message: string | RegExp): Promise<SigwatchError> {
  let caught: unknown;
  await assert.rejects(promise, (err) => {
    caught = err;
    return true;
  });
  return expectSigwatchError(caught, code, message);
}

/** The same for a function that throws. */
export function throwsWith(fn: () => unknown, code: string, message: string | RegExp): SigwatchError {
  let caught: unknown;
  assert.throws(fn, (err) => {
    caught = err;
    return true;
  });
  return expectSigwatchError(caught, code, message);
}

function expectSigwatchError(caught: unknown, code: string, message: string | RegExp): SigwatchError {
  assert.ok(caught instanceof SigwatchError, `expected a SigwatchError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  if (typeof message === 'string') assert.equal(caught.message, message);
  else assert.match(caught.message, message);
  return caught;
}
