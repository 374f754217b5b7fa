import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Notification } from '../../src/notify/notification.ts';
import type { Verdict } from '../../src/verify/verdict.ts';
import { buildImage, generateKeyPair, keyPolicyYaml, pushManifest, signImageWithKey, yamlBlock } from '../support/index.ts';
import { recordFault } from '../support/faults.ts';
import { HANGS, startHangingServer, type HangingServer } from '../support/hanging-server.ts';
import { BUCKET, OnPushScenario, PAYMENTS, releaseKey } from '../support/on-push-scenario.ts';

/**
 * Deadlines against registries that never finish answering (accept and stay
 * silent; send headers, then stall the body; trickle a byte a second): the
 * CLI ends at its --timeout, and an on-push batch gives its healthy records
 * their verdicts in the same invocation, retries the hanging one, then
 * reports it as `error` naming the host, always before the invocation's
 * (test-sized) deadline. Rows of docs/reliability.md.
 */

const FILE = 'test/e2e/faults-deadline.test.ts';
const work = mkdtempSync(join(tmpdir(), 'sigwatch-deadline-'));
const hanging: HangingServer[] = [];
after(async () => {
  await Promise.all(hanging.map((h) => h.close()));
  rmSync(work, { recursive: true, force: true });
});

const bin = new URL('../../bin/sigwatch.mjs', import.meta.url).pathname;

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

describe('sigwatch verify --timeout', () => {
  for (const hang of HANGS) {
    it(`ends a verification against a ${hang} registry at 5 s: deny, exit 1, naming what was waiting`, async () => {
      const server = await startHangingServer(hang);
      hanging.push(server);
      const key = generateKeyPair();
      const policy = join(work, `policy-${hang}.yaml`);
      writeFileSync(policy, keyPolicyYaml('release', '**', key.publicKeyPem));
      const r = await runCli([
        'verify',
        `${server.host}/team/app:signed`,
        '--policies',
        policy,
        '--insecure-registry',
        server.host,
        '--timeout',
        '5s',
        '--format',
        'json',
      ]);
      assert.equal(r.code, 1, r.stderr);
      assert.ok(r.ms <= 6_000, `took ${Math.round(r.ms)} ms`);
      const verdict = JSON.parse(r.stdout) as Verdict;
      assert.equal(verdict.verdict, 'deny');
      assert.equal(verdict.error?.code, 'DEADLINE');
      // What was waiting (the manifest request, by host and path) and for how long.
      assert.match(verdict.reasons[0]!, new RegExp(`still waiting for ${server.host}/v2/team/app/manifests/signed \\((HEAD|GET)\\) after \\d+(\\.\\d+)? s`));
      assert.match(verdict.reasons[0]!, /deadline of 5 s passed/);
      recordFault({
        component: 'registry',
        fault: `${hang} (CLI, --timeout 5s)`,
        outcome: `deny (exit 1) within 6 s, error.code DEADLINE: "still waiting for HOST/v2/team/app/manifests/signed (${hang === 'silent' ? 'HEAD' : 'GET'}) after … s (the verification's deadline of 5 s passed …)"`,
        admitted: false,
        lost: false,
        test: `${FILE}: ${hang} registry at 5 s`,
      });
    });
  }

  it('refuses a --timeout that is not a duration (exit 2)', async () => {
    const r = await runCli(['verify', 'example.com/a:b', '--policies', work, '--timeout', 'soon']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--timeout must be a positive duration such as 5s, 2m or 500ms, got "soon"/);
  });
});

describe('on-push batch with one hanging signature source', () => {
  let sc: OnPushScenario;
  const healthy = Array.from({ length: 9 }, (_, i) => buildImage({ seed: `deadline-healthy-${i}` }));
  const slow = buildImage({ seed: 'deadline-slow' });
  before(async () => {
    sc = await OnPushScenario.start();
    for (const [i, image] of healthy.entries()) {
      await pushManifest(sc.servers.reg, 'team/app', `h${i}`, image);
      await signImageWithKey(sc.servers.reg, 'team/app', image, releaseKey.privateKey);
    }
    await pushManifest(sc.servers.reg, 'team/slow', 'v1', slow);
    await signImageWithKey(sc.servers.reg, 'team/slow', slow, releaseKey.privateKey);
  });
  beforeEach(() => sc.reset());
  after(() => sc?.stop());

  /** The slow image's policy reads its signatures from `host` (a signature store elsewhere). */
  const slowPolicy = (host: string) => `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: signatures-elsewhere}
spec:
  images: [{glob: "**/team/slow*"}]
  authorities:
  - name: elsewhere
    source: [{oci: "${host}/signatures/slow"}]
    key:
      data: |
${yamlBlock(releaseKey.publicKeyPem)}
`;

  const records = (receiveCount: number, only?: 'slow') => [
    ...(only
      ? []
      : healthy.map((image, i) => ({ id: `h${i}`, receiveCount, body: sc.event(`h${i}`, PAYMENTS, { 'image-digest': image.digest, 'image-tag': `h${i}` }) }))),
    { id: 'slow', receiveCount, body: sc.event('slow', PAYMENTS, { 'repository-name': 'team/slow', 'image-digest': slow.digest, 'image-tag': 'v1' }) },
  ];

  for (const hang of HANGS) {
    it(`${hang}: the 9 healthy images get their verdicts at once, the hanging one is retried, then reported as error`, async () => {
      const server = await startHangingServer(hang);
      hanging.push(server);
      await sc.servers.s3.put(BUCKET, 'policies/acme/payments/signatures-elsewhere.yaml', slowPolicy(server.host));
      const handler = sc.handler({ otherHosts: [server.host], publishMarginMs: 1_000 });
      // A test-sized invocation: 6 s left, 1 s kept for publishing, so each record has 5 s.
      const context = (ms: number) => {
        const ends = performance.now() + ms;
        return { getRemainingTimeInMillis: () => Math.max(0, Math.round(ends - performance.now())) };
      };

      const started = performance.now();
      const first = await handler(sc.batch(...records(1)), context(6_000));
      const firstMs = performance.now() - started;
      assert.ok(firstMs < 6_000, `the invocation ended after ${Math.round(firstMs)} ms, past its deadline`);
      assert.deepEqual(first.batchItemFailures, [{ itemIdentifier: 'slow' }]);
      const admitted = await sc.received('payments');
      assert.deepEqual(
        admitted.map((n) => n.verdict),
        Array(9).fill('admit'),
      );
      assert.deepEqual(new Set(admitted.map((n) => n.digest)), new Set(healthy.map((h) => h.digest)));
      assert.ok(server.hits > 0, 'the hanging source was asked');
      const retried = sc.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.message === 'could not verify, will be retried');
      assert.equal(retried?.code, 'DEADLINE');

      // The queue redelivers it; at the configured attempt (3) it is reported, to the team and the operators.
      const again = Date.now();
      const last = await handler(sc.batch(...records(3, 'slow')), context(6_000));
      assert.ok(Date.now() - again < 6_000);
      assert.deepEqual(last.batchItemFailures, []);
      const messages = await sc.drain(sc.servers.inbox.payments.url);
      assert.equal(messages.length, 1);
      assert.equal(messages[0]!.MessageAttributes?.verdict?.StringValue, 'error');
      const n = JSON.parse(messages[0]!.Body!) as Notification;
      assert.equal(n.verdict, 'error');
      assert.equal(n.error?.code, 'DEADLINE');
      assert.match(n.error!.message, new RegExp(`still waiting for ${server.host}/v2/signatures/slow/`));
      assert.equal(n.policies.find((p) => p.name === 'signatures-elsewhere')?.verdict, 'fail');
      const ops = await sc.received('operators');
      assert.deepEqual(
        ops.map((o) => [o.verdict, o.error?.code]),
        [['error', 'DEADLINE']],
      );
      recordFault({
        component: 'registry',
        fault: `${hang} signature source, 1 record of a batch of 10 (on-push)`,
        outcome:
          'the 9 admits published in the first invocation, which ends before its 6 s; the hanging record a batch item failure, then at receive 3 an error verdict (DEADLINE, naming the host) to team and operators',
        admitted: false,
        lost: false,
        test: `${FILE}: ${hang}: the 9 healthy images get their verdicts at once`,
      });
    });
  }
});
