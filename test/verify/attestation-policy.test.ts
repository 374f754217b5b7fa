import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { policyEvaluator, type PolicyEvaluator } from '../../src/verify/policy-engines/evaluate.ts';
import { httpsFetcher } from '../../src/verify/policy-engines/remote.ts';
import { verifyImage } from '../../src/verify/verify-image.ts';
import type { Verdict } from '../../src/verify/verdict.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { parseImageTarget } from '../../src/registry/target.ts';
import { loadPolicyPath } from '../../src/store/folder.ts';
import { policiesMatching } from '../../src/store/policy-set.ts';
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
} from '../support/index.ts';
import { sigwatch } from '../support/cli.ts';
import { testTrustRoots } from '../support/trust-roots.ts';
import { testNow } from '../support/clock.ts';

const REPO = 'acme/app';
const work = mkdtempSync(join(tmpdir(), 'sigwatch-attest-policy-'));
const key = generateKeyPair();
let reg: TestRegistry;
let httpsServer: { url: string; requests: string[]; close(): Promise<void> };
let tlsCert: Buffer;
let evaluate: PolicyEvaluator;

const POLICIES: Record<string, string> = {
  '/provenance.cue': 'predicate: builder: id: "https://github.com/actions/runner"\n',
  '/strict.cue': 'predicate: builder: id: "https://ci.acme.example/builder"\n',
};
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

async function startHttpsPolicyServer() {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const base = join(work, 'tls');
  openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-subj',
    '/CN=policies',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-days',
    '1',
    '-keyout',
    `${base}.key`,
    '-out',
    `${base}.crt`,
  );
  tlsCert = readFileSync(`${base}.crt`);
  const requests: string[] = [];
  const server = createHttpsServer({ key: readFileSync(`${base}.key`), cert: tlsCert }, (req, res) => {
    requests.push(req.url ?? '');
    const body = POLICIES[req.url ?? ''];
    if (req.url === '/trickle.cue') {
      // A byte every 100 ms, for ever: never silent long enough for a socket timeout.
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write(' '), 100);
      res.on('close', () => clearInterval(timer));
    } else if (body === undefined) res.writeHead(404).end();
    else res.writeHead(200, { 'content-type': 'text/plain' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function policyFile(spec: Record<string, unknown>): string {
  const file = join(work, `policy-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    stringify({
      apiVersion: 'policy.sigstore.dev/v1beta1',
      kind: 'ClusterImagePolicy',
      metadata: { name: 'attested' },
      spec: { images: [{ glob: '**' }], ...spec },
    }),
  );
  return file;
}

const provenanceAuthority = (policy?: Record<string, unknown>) => ({
  name: 'release-key',
  key: { data: key.publicKeyPem },
  attestations: [{ name: 'provenance', predicateType: 'slsaprovenance', ...(policy ? { policy } : {}) }],
});

async function verifyWith(file: string, tag = 'v1'): Promise<Verdict> {
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

before(async () => {
  reg = await startRegistry();
  httpsServer = await startHttpsPolicyServer();
  evaluate = policyEvaluator({ fetchRemote: httpsFetcher({ ca: tlsCert }) });
  const image = buildImage({ seed: 'attest-policy' });
  await pushManifest(reg, REPO, 'v1', image);
  const statement = inTotoStatement(`${reg.host}/${REPO}`, image.digest, PredicateUris.slsa02, Predicates.slsa02());
  await pushManifest(reg, REPO, attestationTag(image.digest), attestationManifest([keyAttestationLayer(statement, key.privateKey)]));
});
after(async () => {
  await reg?.stop();
  await httpsServer?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('remote attestation policies (HTTPS, pinned by sha256sum)', () => {
  it('uses the body when its sha256 matches, and fetches it once', async () => {
    const url = `${httpsServer.url}/provenance.cue`;
    const file = policyFile({ authorities: [provenanceAuthority({ type: 'cue', remote: { url, sha256sum: sha256(POLICIES['/provenance.cue']!) } })] });
    const before = httpsServer.requests.length;
    assert.equal((await verifyWith(file)).verdict, 'admit');
    assert.equal((await verifyWith(file)).verdict, 'admit');
    assert.deepEqual(httpsServer.requests.slice(before), ['/provenance.cue']);
  });

  it('a body that does not hash to sha256sum is not used: deny naming both sums', async () => {
    const wrong = sha256('something else');
    const file = policyFile({ authorities: [provenanceAuthority({ type: 'cue', remote: { url: `${httpsServer.url}/provenance.cue`, sha256sum: wrong } })] });
    const verdict = await verifyWith(file);
    assert.equal(verdict.verdict, 'deny');
    assert.match(
      verdict.policies[0]!.authorities[0]!.reason,
      new RegExp(`policy for provenance: failed to check sha256sum from policy remote: ${wrong} got ${sha256(POLICIES['/provenance.cue']!)}`),
    );
  });

  it('a remote policy that the statement fails denies; a missing one too', async () => {
    const strict = policyFile({
      authorities: [provenanceAuthority({ type: 'cue', remote: { url: `${httpsServer.url}/strict.cue`, sha256sum: sha256(POLICIES['/strict.cue']!) } })],
    });
    const denied = await verifyWith(strict);
    assert.equal(denied.verdict, 'deny');
    assert.match(denied.policies[0]!.authorities[0]!.reason, /failed evaluating cue policy for provenance: .*conflicting values/s);
    const missing = policyFile({ authorities: [provenanceAuthority({ type: 'cue', remote: { url: `${httpsServer.url}/gone.cue`, sha256sum: sha256('x') } })] });
    const gone = await verifyWith(missing);
    assert.equal(gone.verdict, 'deny');
    assert.match(gone.policies[0]!.authorities[0]!.reason, /failed to fetch content from policy url with code 404/);
  });

  it('the default fetcher trusts only public roots: a self-signed server is refused', async () => {
    const failure = await policyEvaluator()(
      'provenance',
      { type: 'cue', remote: { url: `${httpsServer.url}/provenance.cue`, sha256sum: sha256(POLICIES['/provenance.cue']!) } },
      {},
    );
    assert.match(failure ?? '', /^policy for provenance: failed to fetch content from policy url: .*self[- ]signed/i);
  });
});

describe('spec.policy over the authorities that passed', () => {
  it('sees authorityMatches as upstream builds it: attestations by name, static authorities', async () => {
    const file = policyFile({
      authorities: [provenanceAuthority(), { name: 'allow', static: { action: 'pass' } }],
      policy: {
        type: 'cue',
        data: 'authorityMatches: {\n  "release-key": attestations: provenance: [{predicateType: "slsaprovenance", digest: =~"^sha256:"}]\n  allow: static: true\n}\n',
      },
    });
    const verdict = await verifyWith(file);
    assert.equal(verdict.verdict, 'admit', JSON.stringify(verdict.reasons));
  });

  it('a spec.policy the results fail denies the policy with its reason', async () => {
    const file = policyFile({
      authorities: [provenanceAuthority()],
      policy: { type: 'cue', data: 'authorityMatches: "release-key": attestations: provenance: [{predicateType: "spdx"}]\n' },
    });
    const verdict = await verifyWith(file);
    assert.equal(verdict.verdict, 'deny');
    assert.match(
      verdict.policies[0]!.reason ?? '',
      /^failed evaluating cue policy for ClusterImagePolicy: failed to evaluate the policy with error: .*conflicting values "spdx" and "slsaprovenance"/s,
    );
  });

  it('fetchConfigFile and includeSpec cannot be honoured: the policy fails, saying why', async () => {
    for (const [field, pattern] of [
      ['fetchConfigFile', /fetchConfigFile is not supported yet/],
      ['includeSpec', /includeSpec cannot be honoured: sigwatch checks images, not Kubernetes resources/],
    ] as const) {
      const file = policyFile({
        authorities: [{ name: 'allow', static: { action: 'pass' } }],
        policy: { type: 'cue', data: 'authorityMatches: _', [field]: true },
      });
      const verdict = await verifyWith(file);
      assert.equal(verdict.verdict, 'deny');
      assert.match(verdict.policies[0]!.reason ?? '', pattern);
    }
  });
});

describe('configMapRef is refused, never passed', () => {
  it('the evaluator itself denies configMapRef, should one get past validation', async () => {
    assert.match((await evaluate('provenance', { type: 'cue', configMapRef: { name: 'p', key: 'k' } }, {})) ?? '', /configMapRef needs a Kubernetes cluster/);
    assert.match((await evaluate('provenance', { type: 'rego', configMapRef: { name: 'p', key: 'k' } }, {})) ?? '', /configMapRef needs a Kubernetes cluster/);
  });

  it('policy validate rejects configMapRef with its field path', async () => {
    const file = policyFile({ authorities: [provenanceAuthority({ type: 'cue', configMapRef: { name: 'policies', key: 'provenance.cue' } })] });
    const out = await sigwatch('policy', 'validate', file);
    assert.equal(out.code, 2);
    assert.match(out.stdout + out.stderr, /spec\.authorities\[0\]\.attestations\.policy\.configMapRef: sigwatch: configMapRef needs a Kubernetes cluster/);
  });
});

describe('remote policy fetch', () => {
  it('gives up on a server that trickles its body, within the fetch limit', async () => {
    const fetch = httpsFetcher({ ca: tlsCert, timeoutMs: 1_000 });
    const started = performance.now();
    await assert.rejects(
      fetch(`${httpsServer.url}/trickle.cue`),
      /failed to fetch content from policy url: policy url did not send its whole body within 1000 ms/,
    );
    assert.ok(performance.now() - started < 3_000);
  });
});
