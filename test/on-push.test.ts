import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseIncoming } from '../src/events/envelope.ts';
import type { PushEvent } from '../src/events/types.ts';
import { handlePushBatch, type OnPushDeps } from '../src/pipeline/on-push.ts';
import type { Verdict } from '../src/policy/verdict.ts';
import { RegistryClient } from '../src/registry/client.ts';
import { buildPolicySet } from '../src/store/policy-set.ts';
import { buildSamples, generateKeyPair, keyPolicyYaml, pushSamples, signatureTag, startRegistry, type TestRegistry } from './harness/index.ts';
import { ecrImageAction, sqsRecord } from './helpers/events.ts';

const key = generateKeyPair();
const samples = buildSamples({ dockerReference: 'x/team/app', key: key.privateKey, otherKey: generateKeyPair().privateKey });
const digestOf = (tag: string) => samples.find((s) => s.tag === tag)!.image.digest;

const record = (id: string, detail: Record<string, string>) => sqsRecord(id, ecrImageAction(id, detail));

describe('on-push pipeline', () => {
  let reg: TestRegistry;
  let deps: OnPushDeps;
  let published: { verdict: Verdict; event: PushEvent }[];
  const logs: Record<string, unknown>[] = [];

  before(async () => {
    reg = await startRegistry();
    await pushSamples(reg, 'team/app', samples);
    const client = new RegistryClient({ insecureHosts: [reg.host] });
    const set = buildPolicySet([{ text: keyPolicyYaml('release', '**', key.publicKeyPem), file: 'release.yaml' }]);
    deps = {
      policies: async () => set,
      // ECR's host stands in for the local registry, as an endpoint override would.
      registry: (ref) => client.repository({ registry: reg.host, repository: ref.repository }),
      publish: async (verdict, event) => void published.push({ verdict, event }),
      log: (e) => void logs.push(e),
    };
  });
  after(() => reg?.stop());

  it('gives each good record a verdict and fails only the malformed one', async () => {
    published = [];
    const batch = parseIncoming({
      Records: [
        record('a', { 'image-digest': digestOf('signed'), 'image-tag': 'signed' }),
        record('b', { 'image-digest': digestOf('unsigned') }),
        { messageId: 'c', body: '{not json', attributes: {}, eventSource: 'aws:sqs' },
      ],
    });
    const { failedMessageIds } = await handlePushBatch(batch, deps);
    assert.deepEqual(failedMessageIds, ['c']);
    const byDigest = new Map(published.map((p) => [p.verdict.digest, p.verdict.verdict]));
    assert.equal(byDigest.get(digestOf('signed')), 'admit');
    assert.equal(byDigest.get(digestOf('unsigned')), 'deny');
    assert.ok(logs.some((l) => l.message === 'event rejected' && l.messageId === 'c'));
  });

  it('re-verifies the subject when a signature tag is pushed, and skips a deleted image', async () => {
    published = [];
    const sigTag = signatureTag(digestOf('signed'));
    const batch = parseIncoming({
      Records: [
        record('s', { 'image-digest': 'sha256:' + 'a'.repeat(64), 'image-tag': sigTag }),
        record('d', { 'image-digest': digestOf('unsigned'), 'action-type': 'DELETE' }),
      ],
    });
    const { failedMessageIds } = await handlePushBatch(batch, deps);
    assert.deepEqual(failedMessageIds, []);
    assert.equal(published.length, 1);
    assert.equal(published[0]!.verdict.digest, digestOf('signed'));
    assert.equal(published[0]!.verdict.verdict, 'admit');
  });

  it('fails the record when the verdict cannot be published, so it is retried', async () => {
    const failing = { ...deps, publish: async () => Promise.reject(new Error('SNS unavailable')) };
    const { failedMessageIds } = await handlePushBatch(parseIncoming({ Records: [record('p', { 'image-digest': digestOf('signed') })] }), failing);
    assert.deepEqual(failedMessageIds, ['p']);
  });
});
