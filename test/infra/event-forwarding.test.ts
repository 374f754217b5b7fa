import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseEcrEvent } from '../../src/events/ecr.ts';
import { awsSample, sampleWith, type AwsSample } from '../support/aws-samples.ts';
import { loadTemplate } from '../support/cloudformation.ts';

/**
 * The member accounts' forwarding rule against AWS's published sample events:
 * every event that sigwatch gives a verdict is forwarded, and what the rule
 * drops is what sigwatch would ignore anyway. The rule is matched with the
 * EventBridge semantics the pattern uses (exact values in arrays, `$or`,
 * nested `detail`), written out here.
 */

type Json = Record<string, unknown>;

function matches(pattern: unknown, event: unknown): boolean {
  if (Array.isArray(pattern)) return pattern.some((v) => v === event);
  if (pattern === null || typeof pattern !== 'object') return false;
  return Object.entries(pattern as Json).every(([k, p]) => {
    if (k === '$or') return (p as unknown[]).some((alt) => matches(alt, event));
    if (event === null || typeof event !== 'object') return false;
    return matches(p, (event as Json)[k]);
  });
}

const rules = Object.values(loadTemplate(new URL('../../infra/member-account.yaml', import.meta.url)).Resources).filter((r) => r.Type === 'AWS::Events::Rule');
const pattern = (rules[0]!.Properties as Json).EventPattern;
const values = {
  id: 'evt-1',
  account: '111122223333',
  region: 'eu-west-1',
  time: '2026-11-23T10:00:00Z',
  repository: 'docker-hub/alpine',
  digest: `sha256:${'a'.repeat(64)}`,
  tag: '3.17.2',
};

describe('member-account event forwarding', () => {
  for (const name of ['push', 'pull-through-cache', 'replication'] as const satisfies readonly AwsSample[]) {
    it(`forwards AWS's ${name} sample, which sigwatch then reads as an image to judge`, () => {
      const event = sampleWith(name, values);
      assert.ok(matches(pattern, event), 'the rule matches');
      assert.ok(parseEcrEvent(event).ok, 'sigwatch accepts it');
    });
  }

  it('drops the failed replication and the scan samples (which sigwatch would ignore)', () => {
    for (const name of ['replication-failed', 'image-scan', 'scan-resource-change'] as const) {
      assert.ok(!matches(pattern, awsSample(name)), name);
      const parsed = parseEcrEvent(awsSample(name));
      assert.ok(!parsed.ok && parsed.ignored, name);
    }
    const failedSync = sampleWith('pull-through-cache', values);
    (failedSync.detail as Json)['sync-status'] = 'FAILED';
    assert.ok(!matches(pattern, failedSync));
  });
});
