import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { deadline, deadlineError, remainingMs, sleepWithin, withinDeadline } from '../src/deadline.ts';
import { SigwatchError } from '../src/errors.ts';
import { HttpClient } from '../src/registry/http.ts';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { sdkHttpOptions } from '../src/pipeline/assemble.ts';
import { startHangingServer } from './support/hanging-server.ts';
import { startHttpServer } from './support/http-server.ts';

/** The one deadline mechanism (src/deadline.ts) and the registry HTTP client's use of it. */

const servers: { close(): Promise<void> }[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

describe('deadlines', () => {
  it('knows what is left of a deadline, and a child never outlives its parent', async () => {
    const parent = deadline(200);
    const child = deadline(10_000, parent);
    assert.ok(remainingMs(child) <= 200 && remainingMs(child) > 100, String(remainingMs(child)));
    assert.equal(remainingMs(undefined), Infinity);
    await new Promise((r) => setTimeout(r, 250));
    assert.ok(child.aborted, 'the child aborted with its parent');
    assert.equal(remainingMs(child), 0);
  });

  it('says what was waiting, for how long, and the budget', () => {
    const e = deadlineError(deadline(5_000), 'example.com/v2/a/manifests/b (GET)', 4_200);
    assert.ok(e instanceof SigwatchError);
    assert.equal(e.code, 'DEADLINE');
    assert.match(
      e.message,
      /^still waiting for example\.com\/v2\/a\/manifests\/b \(GET\) after 4\.2 s \(the verification's deadline of 5 s passed after 0(\.\d+)? s\)$/,
    );
  });

  it('cuts a sleep and a call that ignores the signal short at the deadline', async () => {
    const signal = deadline(100);
    const started = performance.now();
    await assert.rejects(sleepWithin(10_000, signal, 'a retry'), (e: SigwatchError) => e.code === 'DEADLINE' && /still waiting for a retry/.test(e.message));
    // A promise that never settles holds no handle, and deadline timers do not hold the process open.
    const keepAlive = setTimeout(() => undefined, 5_000);
    const never = new Promise<never>(() => undefined);
    await assert.rejects(
      withinDeadline(never, deadline(100), 'STS'),
      (e: SigwatchError) => e.code === 'DEADLINE' && /still waiting for STS after 0\.1/.test(e.message),
    );
    clearTimeout(keepAlive);
    assert.ok(performance.now() - started < 1_000);
    assert.equal(await withinDeadline(Promise.resolve(7), deadline(100), 'x'), 7);
  });
});

describe('registry HTTP under a deadline', () => {
  it('does not start a retry whose wait would pass the deadline: the answer it has is the answer', async () => {
    const server = await startHttpServer((_req, res) => void res.writeHead(503, { 'retry-after': '2' }).end());
    servers.push(server);
    const http = new HttpClient({ attempts: 3 });
    const started = performance.now();
    const res = await http.send({ method: 'GET', url: `${server.url}/v2/a/manifests/b`, maxBytes: 1024, signal: deadline(1_000) }, 'manifest');
    assert.equal(res.status, 503);
    assert.equal(server.requests.length, 1, 'no second attempt');
    assert.ok(performance.now() - started < 500, 'did not wait for Retry-After past the deadline');
  });

  it('aborts a request at the deadline, not at its own 30 s limit', async () => {
    const server = await startHttpServer(() => undefined);
    servers.push(server);
    const http = new HttpClient({ attempts: 3, timeoutMs: 30_000 });
    const started = performance.now();
    await assert.rejects(
      http.send({ method: 'HEAD', url: `${server.url}/v2/a/manifests/b?X-Amz-Signature=secret`, maxBytes: 0, signal: deadline(300) }, 'manifest-head'),
      (e: SigwatchError) =>
        e.code === 'DEADLINE' && e.message.startsWith(`still waiting for ${server.host}/v2/a/manifests/b (HEAD) after 0.3`) && !e.message.includes('secret'),
    );
    assert.equal(server.requests.length, 1);
    assert.ok(performance.now() - started < 1_000);
  });
});

describe('AWS calls under a deadline', () => {
  it('bounds an AWS call to an endpoint that never answers (the SDK sets no timeout of its own)', async () => {
    const server = await startHangingServer('silent');
    servers.push(server);
    const sts = new STSClient({
      region: 'eu-west-1',
      endpoint: `http://${server.host}`,
      credentials: { accessKeyId: 'central', secretAccessKey: 'central' },
      maxAttempts: 1,
      ...sdkHttpOptions(300),
    });
    const started = performance.now();
    await assert.rejects(sts.send(new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::111122223333:role/sigwatch-member', RoleSessionName: 's' })), (e: Error) =>
      /timeout/i.test(`${e.name} ${e.message}`),
    );
    assert.ok(performance.now() - started < 2_000, `took ${Math.round(performance.now() - started)} ms`);
    assert.equal(server.hits, 1);
    sts.destroy();
  });
});
