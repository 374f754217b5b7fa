import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SigwatchError } from '../../src/errors.ts';
import { CI_PREEMPTIVE_PASSWORD } from '../support/secrets.ts';
import { verifyImage } from '../../src/verify/verify-image.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { dockerConfigLookup, type CredentialLookup } from '../../src/registry/credentials.ts';
import { parseImageTarget } from '../../src/registry/target.ts';
import { loadPolicyPath } from '../../src/store/folder.ts';
import { policiesMatching } from '../../src/store/policy-set.ts';
import {
  buildImage,
  buildSamples,
  generateKeyPair,
  keyPolicyYaml,
  pushManifest,
  pushSamples,
  signImageWithKey,
  startRegistry,
  startTokenServer,
  type TestRegistry,
  type TokenServer,
} from '../support/index.ts';
import { startRecordingFront, type RecordingFront } from '../support/recording-proxy.ts';
import { testTrustRoots } from '../support/trust-roots.ts';
import { testNow } from '../support/clock.ts';

/**
 * Preemptive credentials (RegistryClient.request, `preemptive` in
 * src/registry/client.ts): a Basic credential, or a `registrytoken`, goes with
 * the first request to a registry reached over HTTPS, so a cold process pays
 * no 401. Real docker-registry serving TLS, seen through a recording HTTPS
 * front that says what each request carried and how it was answered.
 */

const key = generateKeyPair();
const samples = buildSamples({ dockerReference: 'registry.example.com/team/app', key: key.privateKey, otherKey: generateKeyPair().privateKey });
const second = buildImage({ seed: 'preemptive-second' });
const work = mkdtempSync(join(tmpdir(), 'sigwatch-preemptive-'));
const policy = join(work, 'policy.yaml');
writeFileSync(policy, keyPolicyYaml('release', '**', key.publicKeyPem));

const PASSWORD = 'basic-S3cret-pw';
const users = {
  admin: { password: 'admin-pw', repositories: ['*'], actions: ['pull', 'push'] },
  ci: { password: CI_PREEMPTIVE_PASSWORD, repositories: ['team'] },
};

let basicReg: TestRegistry;
let basicFront: RecordingFront;
let tokens: TokenServer;
let tokenReg: TestRegistry;
let tokenFront: RecordingFront;

before(async () => {
  tokens = await startTokenServer({ users });
  [basicReg, tokenReg] = await Promise.all([
    startRegistry({ auth: { username: 'ci', password: PASSWORD }, tls: true }),
    startRegistry({ tokenAuth: tokens.auth, auth: { username: 'admin', password: users.admin.password }, tls: true }),
  ]);
  for (const reg of [basicReg, tokenReg]) {
    await pushSamples(reg, 'team/app', samples);
    await pushManifest(reg, 'team/app', 'second', second);
    await signImageWithKey(reg, 'team/app', second, key.privateKey);
  }
  await pushSamples(tokenReg, 'team/other', samples);
  [basicFront, tokenFront] = await Promise.all([startRecordingFront(basicReg.url), startRecordingFront(tokenReg.url)]);
});
after(async () => {
  await Promise.all([basicFront?.close(), tokenFront?.close()]);
  await Promise.all([basicReg?.stop(), tokenReg?.stop()]);
  await tokens?.close();
  rmSync(work, { recursive: true, force: true });
});

const config = (auths: Record<string, Record<string, string>>): CredentialLookup => dockerConfigLookup({ auths }, 'config.json');
const basicAuth = (user: string, password: string) => ({ auth: Buffer.from(`${user}:${password}`).toString('base64') });
/** Only the token realm is plain HTTP (the token server of the harness): the registries are HTTPS, not named insecure. */
const client = (credentials: CredentialLookup) => new RegistryClient({ now: testNow, credentials, insecureHosts: [new URL(tokens.url).host], backoffMs: 1 });

/** The verify pipeline through a shared client: requests by kind, and what the front saw (`scheme status` per request). */
async function verify(c: RegistryClient, front: RecordingFront, ref: string) {
  const set = await loadPolicyPath(policy);
  c.http.counter.reset();
  const seen = front.requests.length;
  const verdict = await verifyImage(parseImageTarget(ref), (name, literal) => policiesMatching(set, name, { literal }), {
    registry: (r) => c.repository(r),
    trustRootResolver: testTrustRoots(),
  });
  assert.equal(verdict.verdict, 'admit', JSON.stringify(verdict));
  const requests = front.requests.slice(seen);
  return {
    total: c.http.counter.total,
    byKind: Object.fromEntries(c.http.counter.byKind),
    unauthorized: requests.filter((r) => r.status === 401).length,
    schemes: requests.map((r) => r.scheme ?? 'none'),
  };
}

describe('Basic over HTTPS (docker-registry with htpasswd and TLS)', () => {
  it('sends the configured credential with the first request: a cold by-tag verification makes no 401', async () => {
    const c = client(config({ [basicFront.host]: basicAuth('ci', PASSWORD) }));
    // Before: 6 (the first HEAD answered 401, then sent again with the credential).
    const cold = await verify(c, basicFront, `${basicFront.host}/team/app:signed`);
    assert.deepEqual(cold.byKind, { 'manifest-head': 1, manifest: 2, blob: 1, referrers: 1 });
    assert.equal(cold.unauthorized, 0);
    assert.deepEqual(new Set(cold.schemes), new Set(['Basic']));
    const warm = await verify(c, basicFront, `${basicFront.host}/team/app:second`);
    assert.deepEqual({ total: warm.total, unauthorized: warm.unauthorized }, { total: 4, unauthorized: 0 });
  });

  it('fails on a wrong password with REGISTRY_AUTH after one request, never quoting the secret', async () => {
    const c = client(config({ [basicFront.host]: basicAuth('ci', 'wrong-pw-7c2e') }));
    const seen = basicFront.requests.length;
    await assert.rejects(c.repository({ registry: basicFront.host, repository: 'team/app' }).resolve('signed'), (e: SigwatchError) => {
      assert.equal(e.code, 'REGISTRY_AUTH');
      assert.equal(e.message, `${basicFront.host}/v2/team/app/manifests/signed: access denied with the configured credentials (HTTP 401)`);
      assert.doesNotMatch(e.message, /wrong-pw-7c2e|Y2k6/);
      return true;
    });
    // The refused credential is not sent a second time: the registry's Basic challenge says nothing new.
    assert.deepEqual(
      basicFront.requests.slice(seen).map((r) => `${r.scheme} ${r.status}`),
      ['Basic 401'],
    );
  });
});

describe('bearer registry over HTTPS (docker-registry with a token server and TLS)', () => {
  it('answered 401 Bearer to a preemptive Basic, learns the challenge, trades the credential at the realm, and never sends Basic there again', async () => {
    const from = tokens.requests.length;
    const c = client(config({ [tokenFront.host]: basicAuth('ci', users.ci.password) }));
    const cold = await verify(c, tokenFront, `${tokenFront.host}/team/app:signed`);
    // One 401 (the Basic it did not ask for), one token, the request once more; then the token throughout.
    assert.equal(cold.unauthorized, 1);
    assert.deepEqual(cold.schemes, ['Basic', ...cold.schemes.slice(1).map(() => 'Bearer')]);
    assert.deepEqual(cold.byKind, { 'manifest-head': 2, token: 1, manifest: 2, blob: 1, referrers: 1 });
    assert.deepEqual(
      tokens.requests.slice(from).map((t) => `${t.username} ${t.scopes.join(' ')}`),
      ['ci repository:team/app:pull'],
    );

    // Warm, another image of the repository: the cached token with the first request, no 401, no token request.
    const sameRepository = await verify(c, tokenFront, `${tokenFront.host}/team/app:second`);
    assert.deepEqual(sameRepository, { total: 4, byKind: { 'manifest-head': 1, manifest: 2, blob: 1 }, unauthorized: 0, schemes: Array(4).fill('Bearer') });

    // Warm, a repository it has no token for: straight to the realm the origin named, no 401 probe, no Basic.
    const newRepository = await verify(c, tokenFront, `${tokenFront.host}/team/other:signed`);
    assert.deepEqual(newRepository, {
      total: 5,
      byKind: { token: 1, 'manifest-head': 1, manifest: 2, blob: 1 },
      unauthorized: 0,
      schemes: Array(4).fill('Bearer'),
    });
    assert.equal(tokens.requests.length - from, 2);
  });

  it('sends a registrytoken as Bearer with the first request: no 401, no token service', async () => {
    // What `docker login` would store for a registry that hands out tokens itself.
    const realm = new URL(tokens.auth.realm);
    realm.searchParams.set('service', tokens.auth.service);
    realm.searchParams.set('scope', 'repository:team/app:pull');
    const res = await fetch(realm, { headers: { authorization: `Basic ${Buffer.from(`ci:${users.ci.password}`).toString('base64')}` } });
    const { token } = (await res.json()) as { token: string };
    const from = tokens.requests.length;
    const c = client(config({ [tokenFront.host]: { registrytoken: token } }));
    // Before: the first HEAD answered 401, then sent again with the token (6 requests).
    const cold = await verify(c, tokenFront, `${tokenFront.host}/team/app:signed`);
    assert.deepEqual(cold, {
      total: 5,
      byKind: { 'manifest-head': 1, manifest: 2, blob: 1, referrers: 1 },
      unauthorized: 0,
      schemes: Array(5).fill('Bearer'),
    });
    assert.equal(tokens.requests.length, from);
  });
});
