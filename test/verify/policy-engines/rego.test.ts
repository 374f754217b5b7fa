import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { policyEvaluator, type PolicyEvaluator } from '../../../src/verify/policy-engines/evaluate.ts';
import { evaluateRego } from '../../../src/verify/policy-engines/rego.ts';
import { fixedClock } from '../../../src/clock.ts';
import { verifyImage } from '../../../src/verify/verify-image.ts';
import type { Verdict } from '../../../src/verify/verdict.ts';
import { RegistryClient } from '../../../src/registry/client.ts';
import { parseImageTarget } from '../../../src/registry/target.ts';
import { loadPolicyPath } from '../../../src/store/folder.ts';
import { policiesMatching } from '../../../src/store/policy-set.ts';
import {
  attestationManifest,
  attestationTag,
  buildImage,
  generateKeyPair,
  inTotoStatement,
  keyAttestationLayer,
  PredicateUris,
  Predicates,
  pushManifest,
  startRegistry,
  type TestRegistry,
} from '../../support/index.ts';
import { sigwatch } from '../../support/cli.ts';
import { testNow } from '../../support/clock.ts';
import { testTrustRoots } from '../../support/trust-roots.ts';
import { CUSTOM_POLICY, FRESH_SCAN_POLICY, SLSA_POLICY, VULN_POLICY, WARNING_POLICY } from '../../support/rego-policies.ts';

/*
 * Rego policies shaped as policy-controller's docs and e2e tests write them
 * (v0 syntax, `package sigstore`, `isCompliant` as a boolean or as a set of
 * {result, error, warning} objects), over real signed attestations in a local
 * registry: a SLSA v0.2 provenance, a cosign vuln scan and a custom predicate.
 */

const REPO = 'acme/rego';
const work = mkdtempSync(join(tmpdir(), 'sigwatch-attest-rego-'));
const key = generateKeyPair();
let reg: TestRegistry;
const QUERY = "'isCompliant = data.sigstore.isCompliant'";

const images: Record<string, string> = {};

function policyFile(spec: Record<string, unknown>): string {
  const file = join(work, `policy-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    stringify({
      apiVersion: 'policy.sigstore.dev/v1beta1',
      kind: 'ClusterImagePolicy',
      metadata: { name: 'rego' },
      spec: { images: [{ glob: '**' }], ...spec },
    }),
  );
  return file;
}

const authority = (attestations: Record<string, unknown>[]) => ({ name: 'release-key', key: { data: key.publicKeyPem }, attestations });
const rego = (data: string) => ({ type: 'rego', data });

async function verifyWith(file: string, tag: string, evaluate: PolicyEvaluator = policyEvaluator()): Promise<Verdict> {
  const set = await loadPolicyPath(file);
  assert.deepEqual(
    set.problems.filter((p) => p.severity === 'error'),
    [],
  );
  const client = new RegistryClient({ now: testNow, insecureHosts: [reg.host] });
  return verifyImage(parseImageTarget(`${reg.host}/${REPO}:${tag}`), (name, literal) => policiesMatching(set, name, { literal }), {
    registry: (ref) => client.repository(ref),
    trustRootResolver: testTrustRoots(),
    policyEvaluator: evaluate,
  });
}

async function pushAttested(tag: string, predicates: { type: string; predicate: unknown }[]): Promise<void> {
  const image = buildImage({ seed: `rego-${tag}` });
  images[tag] = image.digest;
  await pushManifest(reg, REPO, tag, image);
  const layers = predicates.map((p) => keyAttestationLayer(inTotoStatement(`${reg.host}/${REPO}`, image.digest, p.type, p.predicate), key.privateKey));
  await pushManifest(reg, REPO, attestationTag(image.digest), attestationManifest(layers));
}

before(async () => {
  reg = await startRegistry();
  await pushAttested('good', [
    { type: PredicateUris.slsa02, predicate: Predicates.slsa02() },
    { type: PredicateUris.vuln, predicate: Predicates.vuln(['LOW', 'MEDIUM']) },
    { type: PredicateUris.custom, predicate: Predicates.custom('foobar e2e test') },
  ]);
  await pushAttested('bad', [
    { type: PredicateUris.slsa02, predicate: Predicates.slsa02('https://ci.evil.example/builder') },
    { type: PredicateUris.vuln, predicate: Predicates.vuln(['HIGH', 'CRITICAL', 'LOW', 'CRITICAL']) },
    { type: PredicateUris.custom, predicate: Predicates.custom('something else') },
  ]);
});
after(async () => {
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('Rego attestation policies over real attestations', () => {
  it('SLSA provenance: a GitHub-built image passes, another builder is denied', async () => {
    const file = policyFile({ authorities: [authority([{ name: 'provenance', predicateType: 'slsaprovenance', policy: rego(SLSA_POLICY) }])] });
    assert.equal((await verifyWith(file, 'good')).verdict, 'admit');
    const bad = await verifyWith(file, 'bad');
    assert.equal(bad.verdict, 'deny');
    assert.match(
      bad.policies[0]!.authorities[0]!.reason,
      new RegExp(`failed evaluating rego policy for type provenance: policy is not compliant for query ${QUERY}$`),
    );
  });

  it('vuln scan: the error of a non-compliant {result, error} response is the reason, as upstream words it', async () => {
    const file = policyFile({ authorities: [authority([{ name: 'vuln', predicateType: 'vuln', policy: rego(VULN_POLICY) }])] });
    assert.equal((await verifyWith(file, 'good')).verdict, 'admit');
    const bad = await verifyWith(file, 'bad');
    assert.equal(bad.verdict, 'deny');
    assert.match(
      bad.policies[0]!.authorities[0]!.reason,
      new RegExp(`failed evaluating rego policy for type vuln: policy is not compliant for query ${QUERY} with errors: Found HIGH: 1, CRITICAL: 2$`),
    );
  });

  it("custom predicate: the check of policy-controller's e2e test passes its data and denies other data", async () => {
    const file = policyFile({ authorities: [authority([{ name: 'custom-match-predicate', predicateType: 'custom', policy: rego(CUSTOM_POLICY) }])] });
    assert.equal((await verifyWith(file, 'good')).verdict, 'admit');
    const bad = await verifyWith(file, 'bad');
    assert.equal(bad.verdict, 'deny');
    // The message policy-controller's e2e test waits for.
    assert.match(bad.policies[0]!.authorities[0]!.reason, /failed evaluating rego policy for type custom-match-predicate: policy is not compliant for query/);
  });

  it('time.now_ns reads the verifier clock: the same scan is fresh on one day and stale a month later', async () => {
    const file = policyFile({ authorities: [authority([{ name: 'fresh-scan', predicateType: 'vuln', policy: rego(FRESH_SCAN_POLICY) }])] });
    const on = (iso: string) => policyEvaluator({ clock: fixedClock(Date.parse(iso)) });
    assert.equal((await verifyWith(file, 'good', on('2024-05-20T00:00:00Z'))).verdict, 'admit');
    const stale = await verifyWith(file, 'good', on('2024-07-01T00:00:00Z'));
    assert.equal(stale.verdict, 'deny');
    assert.match(stale.policies[0]!.authorities[0]!.reason, /with errors: scan is 61 days old$/);
    const noClock = await verifyWith(file, 'good');
    assert.equal(noClock.verdict, 'deny');
    assert.match(noClock.policies[0]!.authorities[0]!.reason, /time\.now_ns: no clock was given/);
  });

  it('a compliant result with a warning is not accepted, as policy-controller counts warnings as failures', async () => {
    const file = policyFile({ authorities: [authority([{ name: 'custom', predicateType: 'custom', policy: rego(WARNING_POLICY) }])] });
    const verdict = await verifyWith(file, 'good');
    assert.equal(verdict.verdict, 'deny');
    assert.match(verdict.policies[0]!.authorities[0]!.reason, /: warning: builder is not pinned$/);
  });

  it('spec.policy in Rego sees authorityMatches', async () => {
    const spec = (min: number) =>
      policyFile({
        authorities: [authority([{ name: 'provenance', predicateType: 'slsaprovenance' }])],
        policy: rego(
          `package sigstore\ndefault isCompliant = false\nisCompliant {\n  atts := input.authorityMatches["release-key"].attestations.provenance\n  count(atts) >= ${min}\n  startswith(atts[0].digest, "sha256:")\n}\n`,
        ),
      });
    assert.equal((await verifyWith(spec(1), 'good')).verdict, 'admit');
    const denied = await verifyWith(spec(2), 'good');
    assert.equal(denied.verdict, 'deny');
    assert.match(
      denied.policies[0]!.reason ?? '',
      new RegExp(`^failed evaluating rego policy for type ClusterImagePolicy: policy is not compliant for query ${QUERY}$`),
    );
  });

  it('a remote Rego policy is used only when its sha256sum matches', async () => {
    const url = 'https://policies.example/vuln.rego';
    const fetched: string[] = [];
    const evaluate = policyEvaluator({ fetchRemote: async (u) => (fetched.push(u), Buffer.from(VULN_POLICY)) });
    const sum = createHash('sha256').update(VULN_POLICY).digest('hex');
    const good = policyFile({ authorities: [authority([{ name: 'vuln', predicateType: 'vuln', policy: { type: 'rego', remote: { url, sha256sum: sum } } }])] });
    assert.equal((await verifyWith(good, 'good', evaluate)).verdict, 'admit');
    assert.equal((await verifyWith(good, 'bad', evaluate)).verdict, 'deny');
    const wrong = policyFile({
      authorities: [authority([{ name: 'vuln', predicateType: 'vuln', policy: { type: 'rego', remote: { url, sha256sum: 'a'.repeat(64) } } }])],
    });
    const verdict = await verifyWith(wrong, 'good', evaluate);
    assert.equal(verdict.verdict, 'deny');
    assert.match(verdict.policies[0]!.authorities[0]!.reason, /failed to check sha256sum from policy remote/);
    assert.deepEqual(fetched, [url, url]);
  });

  it('a policy that would run for hours is stopped by the step limit: not compliant, with the reason', async () => {
    const hostile =
      'package sigstore\nimport future.keywords.in\nr := numbers.range(1, 1000)\nisCompliant { count([x | some a in r; some b in r; some c in r; x := [a, b, c]]) > 0 }\n';
    const started = performance.now();
    const outcome = await evaluateRego(hostile, {}, { maxSteps: 200_000 });
    assert.match(outcome?.error ?? '', /^1 error occurred: sigstore\.rego:4: eval_limit_error: evaluation stopped after 200000 steps/);
    assert.ok(performance.now() - started < 5000);
  });

  it('a policy calling http.send never runs: denied with the refusal, whatever the attestation says', async () => {
    const file = policyFile({
      authorities: [
        authority([
          {
            name: 'custom',
            predicateType: 'custom',
            policy: rego('package sigstore\nisCompliant { http.send({"url": "https://x.example"}).status_code == 200 }\n'),
          },
        ]),
      ],
    });
    const verdict = await verifyWith(file, 'good');
    assert.equal(verdict.verdict, 'deny');
    assert.match(
      verdict.policies[0]!.authorities[0]!.reason,
      /failed evaluating rego policy for type custom: 1 error occurred: sigstore\.rego:2: rego_parse_error: http\.send is not allowed: it makes network requests/,
    );
  });
});

describe('sigwatch policy validate and verify with Rego', () => {
  it('validate accepts the example policies and reports a broken one with line and column', async () => {
    const ok = policyFile({ authorities: [authority([{ name: 'vuln', predicateType: 'vuln', policy: rego(VULN_POLICY) }])], policy: rego(CUSTOM_POLICY) });
    const good = await sigwatch('policy', 'validate', ok);
    assert.equal(good.code, 0, good.stderr);
    const broken = policyFile({
      authorities: [authority([{ name: 'vuln', predicateType: 'vuln', policy: rego('package sigstore\n\nisCompliant {\n  input.x ==\n}\n') }])],
    });
    const out = await sigwatch('policy', 'validate', broken);
    assert.equal(out.code, 2);
    assert.match(
      out.stderr,
      /ClusterImagePolicy\/rego: spec\.authorities\[0\]\.attestations\.policy\.data: attestation vuln: invalid Rego: sigstore\.rego:5:1: rego_parse_error: unexpected } token/,
    );
  });

  it('verify --at is the time.now_ns a Rego policy sees', async () => {
    const file = policyFile({ authorities: [authority([{ name: 'fresh-scan', predicateType: 'vuln', policy: rego(FRESH_SCAN_POLICY) }])] });
    const args = ['verify', `${reg.host}/${REPO}:good`, '--policies', file, '--insecure-registry', reg.host];
    const fresh = await sigwatch(...args, '--at', '2024-05-20T00:00:00Z');
    assert.equal(fresh.code, 0, fresh.stdout + fresh.stderr);
    const stale = await sigwatch(...args, '--at', '2024-07-01T00:00:00Z');
    assert.notEqual(stale.code, 0);
    assert.match(stale.stdout + stale.stderr, /scan is 61 days old/);
  });

  it('verify admits with a Rego policy end to end (exit 0) and denies the bad image', async () => {
    const file = policyFile({ authorities: [authority([{ name: 'vuln', predicateType: 'vuln', policy: rego(VULN_POLICY) }])] });
    const good = await sigwatch('verify', `${reg.host}/${REPO}:good`, '--policies', file, '--insecure-registry', reg.host);
    assert.equal(good.code, 0, good.stderr);
    const bad = await sigwatch('verify', `${reg.host}/${REPO}:bad`, '--policies', file, '--insecure-registry', reg.host);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stdout + bad.stderr, /Found HIGH: 1, CRITICAL: 2/);
  });
});
