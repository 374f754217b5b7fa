import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { awsErrorLabel, awsFailureOf, isTransientAws } from '../src/aws-errors.ts';
import { backoff, retry } from '../src/retry.ts';

const awsError = (name: string, status?: number, extra: object = {}) =>
  Object.assign(new Error(`${name}: secret-token-in-message`), {
    name,
    ...(status !== undefined ? { $metadata: { httpStatusCode: status, requestId: 'r-1' } } : {}),
    ...extra,
  });

describe('retry', () => {
  it('tries again after the wait the caller names, until an outcome ends it', async () => {
    const waits: number[] = [];
    let calls = 0;
    const value = await retry(
      async () => {
        if (++calls < 3) throw new Error('flaky');
        return 'ok';
      },
      { attempts: 5, retryAfter: (o, attempt) => (o.ok ? undefined : attempt * 10), sleep: async (ms) => void waits.push(ms) },
    );
    assert.deepEqual([value, calls, waits], ['ok', 3, [10, 20]]);
  });

  it('throws the last error when the attempts run out, and never waits after the last', async () => {
    const waits: number[] = [];
    let calls = 0;
    await assert.rejects(
      retry(
        async (attempt) => {
          calls++;
          throw new Error(`attempt ${attempt}`);
        },
        { attempts: 3, retryAfter: () => 1, sleep: async (ms) => void waits.push(ms) },
      ),
      /^Error: attempt 3$/,
    );
    assert.deepEqual([calls, waits], [3, [1, 1]]);
  });

  it('returns an answer the caller would retry once attempts run out, and stops at once when told', async () => {
    let calls = 0;
    const last = await retry(async () => ++calls, { attempts: 2, retryAfter: (o) => (o.ok && o.value < 10 ? 0 : undefined), sleep: async () => {} });
    assert.deepEqual([last, calls], [2, 2]);
    calls = 0;
    await assert.rejects(
      retry(async () => (calls++, Promise.reject(new Error('permanent'))), { attempts: 9, retryAfter: () => undefined }),
      /permanent/,
    );
    assert.equal(calls, 1);
  });

  it('backs off with full jitter, doubling and capped', () => {
    const at = (random: number) => [1, 2, 3, 8].map((n) => backoff(n, { baseMs: 100, maxMs: 500, random: () => random }));
    assert.deepEqual(at(0.5), [50, 100, 200, 250]);
    assert.deepEqual(at(0), [0, 0, 0, 0]);
    assert.deepEqual(at(0.999), [99, 199, 399, 499]);
  });
});

describe('AWS errors', () => {
  it('are told apart by name and status, never by message', () => {
    assert.equal(awsFailureOf(awsError('ThrottlingException', 400)), 'throttled');
    assert.equal(awsFailureOf(awsError('KMSThrottlingException', 400)), 'throttled');
    assert.equal(awsFailureOf(awsError('Whatever', 429)), 'throttled');
    assert.equal(awsFailureOf(awsError('Whatever', 400, { $retryable: { throttling: true } })), 'throttled');
    assert.equal(awsFailureOf(awsError('AccessDenied', 403)), 'access-denied');
    assert.equal(awsFailureOf(awsError('AccessDeniedException', 400)), 'access-denied');
    assert.equal(awsFailureOf(awsError('CredentialsProviderError')), 'no-credentials');
    assert.equal(awsFailureOf(awsError('InternalFailure', 500)), 'unavailable');
    assert.equal(awsFailureOf(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), 'unavailable');
    assert.equal(awsFailureOf(awsError('ValidationError', 400)), 'rejected');
    // A message that says "Throttling" is not throttling.
    assert.equal(awsFailureOf(Object.assign(new Error('ThrottlingException'), { name: 'ValidationError', $metadata: { httpStatusCode: 400 } })), 'rejected');
    assert.deepEqual(
      [awsError('ThrottlingException', 400), awsError('InternalFailure', 503), awsError('AccessDenied', 403), awsError('NotFound', 404)].map(isTransientAws),
      [true, true, false, false],
    );
  });

  it('are labelled with name, status and request id, never the message', () => {
    assert.equal(awsErrorLabel(awsError('AccessDenied', 403)), 'AccessDenied, HTTP 403, request r-1');
    assert.equal(awsErrorLabel(Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' })), 'ECONNREFUSED');
    assert.equal(awsErrorLabel('a string'), 'Error');
    assert.equal(awsErrorLabel(Object.assign(new Error('x'), { name: 'evil name with spaces and secret' })), 'Error');
  });
});
