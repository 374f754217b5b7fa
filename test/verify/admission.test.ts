import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluatePolicies } from '../../src/verify/admission.ts';
import type { ClusterImagePolicy } from '../../src/policy/types.ts';
import type { AuthorityResult } from '../../src/verify/verdict.ts';

function policy(name: string, authorities: string[], mode?: 'enforce' | 'warn'): ClusterImagePolicy {
  return {
    apiVersion: 'policy.sigstore.dev/v1beta1',
    kind: 'ClusterImagePolicy',
    metadata: { name },
    spec: { images: [{ glob: '**' }], authorities: authorities.map((a) => ({ name: a, static: { action: 'pass' } })), mode },
    origin: { file: 'test', index: 0 },
  };
}

/** Authorities named pass-* pass, others fail: the rule under test is the combination. */
const byName = async (p: ClusterImagePolicy, i: number): Promise<AuthorityResult> => {
  const name = p.spec.authorities[i]!.name;
  const pass = name.startsWith('pass');
  return { name, verdict: pass ? 'pass' : 'fail', reason: pass ? 'ok' : 'no signatures found', signatures: [] };
};

describe('policy evaluation', () => {
  it('admits when every policy has a passing authority (AND of ORs)', async () => {
    const e = await evaluatePolicies([policy('a', ['fail-1', 'pass-2']), policy('b', ['pass-1'])], byName, 'deny');
    assert.equal(e.verdict, 'admit');
    assert.deepEqual(e.reasons, []);
  });

  it('denies when one enforcing policy fails, naming policy and authorities', async () => {
    const e = await evaluatePolicies([policy('a', ['pass-1']), policy('b', ['fail-1', 'fail-2'])], byName, 'deny');
    assert.equal(e.verdict, 'deny');
    assert.deepEqual(e.reasons, ['policy b: authority fail-1: no signatures found; authority fail-2: no signatures found']);
    assert.equal(e.policies[1]!.verdict, 'fail');
  });

  it('only warns when the failing policies are in warn mode', async () => {
    const e = await evaluatePolicies([policy('a', ['pass-1']), policy('w', ['fail-1'], 'warn')], byName, 'deny');
    assert.equal(e.verdict, 'warn');
    assert.match(e.reasons[0]!, /^policy w \(warn\)/);
    const both = await evaluatePolicies([policy('e', ['fail-1']), policy('w', ['fail-1'], 'warn')], byName, 'deny');
    assert.equal(both.verdict, 'deny');
  });

  it('fails a policy whose spec-level policy cannot be evaluated yet, even when an authority passes', async () => {
    const p = policy('with-spec-policy', ['pass-1']);
    p.spec.policy = { type: 'cue', data: 'predicateType: "x"' };
    const e = await evaluatePolicies([p], byName, 'deny');
    assert.equal(e.verdict, 'deny');
    assert.match(e.reasons[0]!, /spec\.policy \(cue\) evaluation is not supported yet/);
  });

  it('records where each policy came from, and says that match is not applied', async () => {
    const p = policy('matched', ['pass-1']);
    p.origin = { file: 's3://bucket/policies/acme/matched.yaml', index: 0, version: 'v42' };
    p.spec.match = [{ resource: 'pods', selector: { matchLabels: { tier: 'web' } } }];
    const e = await evaluatePolicies([p, policy('plain', ['pass-1'])], byName, 'deny');
    assert.equal(e.verdict, 'admit');
    assert.deepEqual(e.policies[0]!.source, { file: 's3://bucket/policies/acme/matched.yaml', version: 'v42' });
    assert.match(e.policies[0]!.notes![0]!, /sigwatch checks images, not pods/);
    assert.equal(e.policies[1]!.notes, undefined);
  });

  it('applies the no-match behaviour when no policy matches', async () => {
    const never = async (): Promise<AuthorityResult> => assert.fail('no authority may be checked');
    assert.equal((await evaluatePolicies([], never, 'deny')).verdict, 'deny');
    assert.equal((await evaluatePolicies([], never, 'allow')).verdict, 'admit');
    assert.equal((await evaluatePolicies([], never, 'warn')).verdict, 'warn');
    assert.match((await evaluatePolicies([], never, 'deny')).reasons[0]!, /no policy matches/);
  });
});
