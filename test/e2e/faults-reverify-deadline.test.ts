import { recordingLogger } from '../support/logs.ts';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { budget } from '../../src/deadline.ts';
import { verifyImage } from '../../src/verify/verify-image.ts';
import { loadPolicyPath } from '../../src/store/folder.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { ecrHost } from '../../src/registry/providers/ecr-names.ts';
import { parseImageTarget } from '../../src/registry/target.ts';
import { processReverifyRecords } from '../../src/reverify/dispatch.ts';
import { MESSAGE_VERSION, type ImagesMessage } from '../../src/reverify/messages.ts';
import type { VerifyOwnedImage } from '../../src/reverify/worker.ts';
import { policiesMatching } from '../../src/store/policy-set.ts';
import type { PolicySet } from '../../src/policy/types.ts';
import { buildImage, keyPolicyYaml, yamlBlock } from '../support/index.ts';
import { testNow } from '../support/clock.ts';
import { recordFault } from '../support/faults.ts';
import { testTrustRoots } from '../support/trust-roots.ts';
import { HANGS, startHangingServer, type HangingServer } from '../support/hanging-server.ts';
import { PAYMENTS, drain, ECR_PASSWORD, push, REGION, sign, startWorld, wire, type World } from '../support/reverify.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The re-verification worker against a signature source that never finishes
 * answering, in a message of 10 images of which 9 are healthy: the 9 are
 * judged in that invocation, which ends before its (test-sized) deadline; the
 * hanging one, admitted before, is counted `unverified` and not published,
 * then published as admit→error (code DEADLINE) when the error persists into
 * the second run (errorRuns 2, the default). Rows of docs/reliability.md.
 */

const FILE = 'test/e2e/faults-reverify-deadline.test.ts';
const REPO = 'payments/api';

describe('re-verification worker with one hanging signature source', () => {
  let world: World;
  const healthy = Array.from({ length: 9 }, (_, i) => buildImage({ seed: `reverify-deadline-${i}` }));
  const slow = buildImage({ seed: 'reverify-deadline-slow' });
  const servers: HangingServer[] = [];
  const work = mkdtempSync(join(tmpdir(), 'sigwatch-reverify-deadline-'));
  before(async () => {
    world = await startWorld();
    for (const [i, image] of [...healthy, slow].entries()) {
      await push(world, PAYMENTS, REPO, image, `t${i}`);
      await sign(world, PAYMENTS, REPO, image);
    }
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await world?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  /** The group's policies: the release key everywhere, and for the slow image its signatures read from `host`. */
  async function policies(host: string): Promise<PolicySet> {
    const dir = mkdtempSync(join(work, 'policies-'));
    writeFileSync(join(dir, 'release.yaml'), keyPolicyYaml('release', '**', world.publicKeyPem));
    writeFileSync(
      join(dir, 'elsewhere.yaml'),
      `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: signatures-elsewhere}
spec:
  images: [{glob: "**@${slow.digest}"}]
  authorities:
  - name: elsewhere
    source: [{oci: "${host}/signatures/slow"}]
    key:
      data: |
${yamlBlock(world.publicKeyPem)}
`,
    );
    return loadPolicyPath(dir);
  }

  /** The on-push composition's verification, over the world's registry, honouring the image's deadline. */
  function verifier(set: PolicySet, hang: HangingServer): VerifyOwnedImage {
    const registry = new RegistryClient({ now: testNow, insecureHosts: [world.reg.host, hang.host] });
    const trustRootResolver = testTrustRoots();
    const credential = async () => ({ kind: 'basic' as const, username: 'AWS', password: ECR_PASSWORD });
    return async (img, _trigger, signal) => {
      const verdict = await verifyImage(
        parseImageTarget(`${ecrHost(img.account, img.region)}/${img.repository}@${img.digest}`),
        (name, literal) => policiesMatching(set, name, { literal }),
        {
          registry: (ref) =>
            ref.registry === hang.host
              ? registry.repository(ref, undefined, signal)
              : registry.repository({ registry: world.reg.host, repository: `${img.account}/${ref.repository}` }, credential, signal),
          trustRootResolver,
        },
        signal ? { signal } : {},
      );
      return { verdict, team: 'payments', topicArn: world.topics.payments.topicArn, policySetVersion: 'set-1' };
    };
  }

  const message = (runId: string): ImagesMessage => ({
    sigwatch: 'reverify',
    version: MESSAGE_VERSION,
    kind: 'images',
    runId,
    batchId: `${runId}-b1`,
    trigger: 'reverify',
    account: PAYMENTS,
    region: REGION,
    repository: REPO,
    images: [...healthy, slow].map((image, i) => ({ digest: image.digest, tags: [`t${i}`] })),
  });

  for (const hang of HANGS) {
    it(`${hang}: the 9 are judged in the invocation; the admitted hanging image is held one run, then published as error`, async () => {
      const server = await startHangingServer(hang);
      servers.push(server);
      const w = wire(world);
      const worker = { ...w.worker, verify: verifier(await policies(server.host), server) };
      // The images were admitted before: their stored verdicts.
      await w.verdicts.putMany(
        [...healthy, slow].map((image) => ({
          account: PAYMENTS,
          region: REGION,
          repository: REPO,
          digest: image.digest,
          verdict: 'admit' as const,
          reasons: [],
          warnings: [],
          time: '2026-11-22T10:00:00.000Z',
          policyVersions: {},
          policySetVersion: 'set-1',
          trigger: 'reverify',
        })),
      );
      await drain(world, world.topics.payments);

      const run = async (runId: string) => {
        await w.ledger.start(runId, 'reverify', 1);
        const started = performance.now();
        // A test-sized invocation: 3 s for the records (images of the message share it).
        const res = await processReverifyRecords(
          [{ messageId: runId, body: JSON.stringify(message(runId)) }],
          { worker: async () => worker, planner: async () => w.planner, log: recordingLogger(w.logs) },
          budget(3_000),
        );
        const ms = performance.now() - started;
        assert.deepEqual(res.failedMessageIds, []);
        assert.ok(ms < 4_000, `the invocation took ${Math.round(ms)} ms`);
        const [team] = await w.ledger.teams(runId);
        return { ms, counts: team!.counts, published: (await drain(world, world.topics.payments)).filter((m) => m.type === undefined).map((m) => m.body) };
      };

      const first = await run(`run-${hang}-1`);
      assert.deepEqual(first.counts, { admit: 9, deny: 0, warn: 0, error: 0, unverified: 1, changed: 0 });
      assert.deepEqual(first.published, [], 'no admit→error on the first run that could not verify');
      const held = await w.verdicts.get({ account: PAYMENTS, region: REGION, repository: REPO, digest: slow.digest });
      assert.equal(held?.verdict, 'admit');
      assert.equal(held?.unverifiedRuns, 1);

      const second = await run(`run-${hang}-2`);
      assert.deepEqual(second.counts, { admit: 9, deny: 0, warn: 0, error: 1, unverified: 0, changed: 1 });
      assert.equal(second.published.length, 1);
      const n = second.published[0]!;
      assert.equal(n.verdict, 'error');
      assert.equal((n.error as { code: string }).code, 'DEADLINE');
      assert.match((n.error as { message: string }).message, new RegExp(`still waiting for ${server.host}/v2/signatures/slow/`));
      assert.equal((await w.verdicts.get({ account: PAYMENTS, region: REGION, repository: REPO, digest: slow.digest }))?.verdict, 'error');
      recordFault({
        component: 'registry',
        fault: `${hang} signature source, 1 image of a message of 10 (re-verification)`,
        outcome:
          'the 9 judged within the invocation (3 s budget, under 4 s); the admitted image counted unverified, its admit kept, nothing published; admit→error (DEADLINE, naming the host) published on the second run',
        admitted: false,
        lost: false,
        test: `${FILE}: ${hang}: the 9 are judged in the invocation`,
      });
    });
  }
});
