import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SigwatchError } from '../../src/errors.ts';
import { TokenCache } from '../../src/registry/auth.ts';
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
  startRegistry,
  type Sample,
  type TestRegistry,
} from '../support/index.ts';
import { startTokenServer, type TokenServer } from '../support/token-server.ts';
import { testTrustRoots } from '../support/trust-roots.ts';
import type { Clock } from '../../src/clock.ts';
import { ManualClock, testNow } from '../support/clock.ts';

const image = buildImage({ seed: 'auth' });
const users = {
  admin: { password: 'admin-pw', repositories: ['*'], actions: ['pull', 'push'] },
  ci: { password: 'ci-s3cret', repositories: ['private'] },
  alice: { password: 'alice-pw', repositories: ['team-a'] },
  bob: { password: 'bob-pw', repositories: ['team-b'] },
};

let tokens: TokenServer;
let registry: TestRegistry;
let insecure: string[];

before(async () => {
  tokens = await startTokenServer({ users, anonymous: ['public'] });
  registry = await startRegistry({ tokenAuth: tokens.auth, auth: { username: 'admin', password: users.admin.password } });
  await Promise.all(['public/app', 'private/app', 'private/other', 'team-a/app', 'team-b/app'].map((repo) => pushManifest(registry, repo, 'v1', image)));
  // The token realm is plain HTTP too, so it must be named insecure as well.
  insecure = [registry.host, new URL(tokens.url).host];
});
after(async () => {
  await registry?.stop();
  await tokens?.close();
});

const config = (auths: Record<string, [string, string]>): CredentialLookup =>
  dockerConfigLookup(
    { auths: Object.fromEntries(Object.entries(auths).map(([k, [u, p]]) => [k, { auth: Buffer.from(`${u}:${p}`).toString('base64') }])) },
    'config.json',
  );
const client = (credentials?: CredentialLookup, now: Clock = testNow) => new RegistryClient({ now, credentials, insecureHosts: insecure, backoffMs: 1 });
const repo = (c: RegistryClient, name: string) => c.repository({ registry: registry.host, repository: name });
/** Token server requests since `from`, as `user scope`. */
const tokenRequests = (from: number) => tokens.requests.slice(from).map((r) => `${r.username ?? 'anonymous'} ${r.scopes.join(' ')}`);

describe('bearer token auth against docker-registry', () => {
  it('pulls anonymously where the token server grants anonymous pull', async () => {
    const from = tokens.requests.length;
    const c = client();
    assert.equal(await repo(c, 'public/app').resolve('v1'), image.digest);
    assert.deepEqual(tokenRequests(from), ['anonymous repository:public/app:pull']);
    await assert.rejects(repo(c, 'private/app').getManifest('v1'), (e: SigwatchError) => {
      assert.equal(e.code, 'REGISTRY_AUTH');
      assert.match(e.message, /access denied anonymously/);
      return true;
    });
  });

  it('pulls with a Docker config credential, and caches the token per repository', async () => {
    const from = tokens.requests.length;
    const c = client(config({ [registry.host]: ['ci', users.ci.password] }));
    const first = await repo(c, 'private/app').getManifest(image.digest);
    assert.equal(first?.digest, image.digest);
    // The first request learns the challenge: 401, token, request again.
    assert.deepEqual(Object.fromEntries(c.http.counter.byKind), { manifest: 2, token: 1 });
    assert.deepEqual(tokenRequests(from), ['ci repository:private/app:pull']);

    c.http.counter.reset();
    await repo(c, 'private/app').getManifest(image.digest);
    await repo(c, 'private/app').getManifest('v1');
    assert.deepEqual(Object.fromEntries(c.http.counter.byKind), { manifest: 2 }, 'a cached token costs no round trip');
    assert.equal(tokens.requests.length, from + 1);

    c.http.counter.reset();
    await repo(c, 'private/other').getManifest('v1');
    // Known challenge: the token is fetched before the request, no 401 first.
    assert.deepEqual(Object.fromEntries(c.http.counter.byKind), { token: 1, manifest: 1 });
    assert.deepEqual(tokenRequests(from + 1), ['ci repository:private/other:pull']);
  });

  it('fails on a wrong password with REGISTRY_AUTH naming the registry, never the secret', async () => {
    const c = client(config({ [registry.host]: ['ci', 'wrong-pw-9f3k'] }));
    await assert.rejects(repo(c, 'private/app').resolve('v1'), (e: SigwatchError) => {
      assert.equal(e.code, 'REGISTRY_AUTH');
      assert.ok(e.message.startsWith(`${registry.host}/private/app: `), e.message);
      assert.match(e.message, /refused the configured credentials \(HTTP 401\)/);
      assert.doesNotMatch(e.message, /wrong-pw-9f3k|ci:|Y2k6/);
      return true;
    });
  });

  it('fetches a new token when the cached one expires', async () => {
    tokens.expiresIn = 2;
    try {
      const from = tokens.requests.length;
      const clock = new ManualClock();
      const c = client(config({ [registry.host]: ['ci', users.ci.password] }), clock.now);
      await repo(c, 'private/app').resolve('v1');
      clock.advance(1_400);
      await repo(c, 'private/app').resolve('v1');
      assert.equal(tokens.requests.length - from, 1);
      // A 2 s token is reused for 1.5 s (a quarter of its life is kept as margin).
      clock.advance(200);
      await repo(c, 'private/app').resolve('v1');
      assert.equal(tokens.requests.length - from, 2);
    } finally {
      tokens.expiresIn = 300;
    }
  });

  // Real token services and registries share a clock that need not be ours: a token's life is
  // counted from when we received it (`expires_in`, as containerd and go-containerregistry do),
  // never from its `issued_at` or JWT claims, so a skewed clock neither breaks nor stretches it.
  for (const [what, skewMs] of [
    ['ten minutes behind', -10 * 60_000],
    ['a year and a half ahead', 550 * 86_400_000],
  ] as const) {
    it(`uses tokens issued on the registry's clock when ours is ${what}`, async () => {
      tokens.expiresIn = 60;
      try {
        const from = tokens.requests.length;
        const clock = new ManualClock(Date.now() + registry.clockOffsetMs + skewMs);
        const c = client(config({ [registry.host]: ['ci', users.ci.password] }), clock.now);
        assert.ok(await repo(c, 'private/app').resolve('v1'));
        const issuedAt = Date.parse(JSON.parse(tokens.issuedAnswers.at(-1)!).issued_at);
        assert.ok(Math.abs(issuedAt - clock.now() + skewMs) < 5_000, 'issued_at is off our clock by the skew');
        clock.advance(44_000);
        assert.ok(await repo(c, 'private/app').resolve('v1'));
        assert.equal(tokens.requests.length - from, 1, 'reused within expires_in by our clock');
        // Just expired by our clock (51 s of a 60 s token, 10 s kept as margin): a new token, never a stale one sent.
        clock.advance(7_000);
        assert.ok(await repo(c, 'private/app').resolve('v1'));
        assert.equal(tokens.requests.length - from, 2);
      } finally {
        tokens.expiresIn = 300;
      }
    });
  }

  it('replaces, once, a token the registry refuses before its declared expiry', async () => {
    // exp 58 s in the past: docker-registry's 60 s leeway (on whole-second claims) accepts it for 1-2 s more.
    tokens.expClaim = -58;
    const c = client(config({ [registry.host]: ['ci', users.ci.password] }));
    await repo(c, 'private/app').resolve('v1');
    tokens.expClaim = undefined;
    await new Promise((r) => setTimeout(r, 2_100));
    c.http.counter.reset();
    assert.equal(await repo(c, 'private/app').resolve('v1'), image.digest);
    assert.deepEqual(Object.fromEntries(c.http.counter.byKind), { 'manifest-head': 2, token: 1 });
  });

  it('never sends a credential to a plain-HTTP token realm not named insecure', async () => {
    const from = tokens.requests.length;
    const c = new RegistryClient({ now: testNow, credentials: config({ [registry.host]: ['ci', users.ci.password] }), insecureHosts: [registry.host] });
    await assert.rejects(repo(c, 'private/app').resolve('v1'), /token realm 127\.0\.0\.1:\d+ is not https and not named insecure/);
    assert.equal(tokens.requests.length, from);
  });

  it('sends each namespace only its own credential (longest Docker config prefix wins)', async () => {
    const from = tokens.requests.length;
    const c = client(
      config({
        [registry.host]: ['ci', users.ci.password],
        [`${registry.host}/team-a`]: ['alice', users.alice.password],
        [`${registry.host}/team-b`]: ['bob', users.bob.password],
      }),
    );
    await Promise.all([repo(c, 'team-a/app').getManifest('v1'), repo(c, 'team-b/app').getManifest('v1'), repo(c, 'private/app').getManifest('v1')]);
    assert.deepEqual(tokenRequests(from).sort(), ['alice repository:team-a/app:pull', 'bob repository:team-b/app:pull', 'ci repository:private/app:pull']);
  });

  it('fails closed when the namespace credential lacks access, without trying another', async () => {
    const from = tokens.requests.length;
    // bob's credential filed under team-a: the token grants nothing, the registry refuses.
    const c = client(config({ [`${registry.host}/team-a`]: ['bob', users.bob.password], [registry.host]: ['admin', users.admin.password] }));
    await assert.rejects(
      repo(c, 'team-a/app').resolve('v1'),
      (e: SigwatchError) => e.code === 'REGISTRY_AUTH' && /with the configured credentials/.test(e.message),
    );
    assert.deepEqual([...new Set(tokenRequests(from))], ['bob repository:team-a/app:pull']);
  });
});

describe('round trips', () => {
  const key = generateKeyPair();
  const samples: Sample[] = buildSamples({ dockerReference: 'registry.example.com/team/app', key: key.privateKey, otherKey: generateKeyPair().privateKey });
  const signed = samples.find((s) => s.tag === 'signed')!;
  const work = mkdtempSync(join(tmpdir(), 'sigwatch-roundtrips-'));
  const policy = join(work, 'policy.yaml');
  let anonymous: TestRegistry;
  let basic: TestRegistry;

  before(async () => {
    writeFileSync(policy, keyPolicyYaml('release', '**', key.publicKeyPem));
    [anonymous, basic] = await Promise.all([startRegistry(), startRegistry({ auth: { username: 'ci', password: 'basic-pw' } })]);
    await Promise.all([pushSamples(anonymous, 'team/app', samples), pushSamples(basic, 'team/app', samples), pushSamples(registry, 'team-a/app', samples)]);
  });
  after(async () => {
    await anonymous?.stop();
    await basic?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  /** The verify pipeline (what the CLI and the Lambda functions run) through one shared client. */
  async function verify(c: RegistryClient, ref: string) {
    const set = await loadPolicyPath(policy);
    c.http.counter.reset();
    const verdict = await verifyImage(parseImageTarget(ref), (name, literal) => policiesMatching(set, name, { literal }), {
      registry: (r) => c.repository(r),
      trustRootResolver: testTrustRoots(),
    });
    assert.equal(verdict.verdict, 'admit', JSON.stringify(verdict));
    return { total: c.http.counter.total, byKind: Object.fromEntries(c.http.counter.byKind) };
  }

  it('resolves a tag with one HEAD', async () => {
    const c = new RegistryClient({ now: testNow, insecureHosts: [anonymous.host] });
    assert.deepEqual(await c.repository({ registry: anonymous.host, repository: 'team/app' }).resolveTag('signed'), {
      mediaType: signed.image.mediaType,
      digest: signed.image.digest,
      size: signed.image.bytes.length,
    });
    assert.deepEqual(Object.fromEntries(c.http.counter.byKind), { 'manifest-head': 1 });
  });

  // A key authority reads the image's referrers too (cosign v3 verifies its bundles when it has any):
  // docker-registry has no referrers API, so the first lookup per process costs the 404 and the
  // fallback tag, later ones the tag alone.
  it('anonymous registry: 3 round trips by digest (signature manifest, blob, referrers tag), 4 by tag', async () => {
    const c = new RegistryClient({ now: testNow, insecureHosts: [anonymous.host] });
    assert.deepEqual(await verify(c, `${anonymous.host}/team/app@${signed.image.digest}`), { total: 4, byKind: { manifest: 2, blob: 1, referrers: 1 } });
    assert.deepEqual(await verify(c, `${anonymous.host}/team/app@${signed.image.digest}`), { total: 3, byKind: { manifest: 2, blob: 1 } });
    assert.deepEqual(await verify(c, `${anonymous.host}/team/app:signed`), { total: 4, byKind: { 'manifest-head': 1, manifest: 2, blob: 1 } });
  });

  // A registry named insecure (plain HTTP) is never sent a credential before its own 401 asks for one
  // (`preemptive` in src/registry/client.ts); over HTTPS the 401 goes: test/registry/preemptive-auth.test.ts.
  it('Basic auth: one 401 per registry and process, then 0 extra', async () => {
    const credentials = config({ [basic.host]: ['ci', 'basic-pw'] });
    const c = new RegistryClient({ now: testNow, credentials, insecureHosts: [basic.host] });
    assert.equal(
      (await verify(c, `${basic.host}/team/app:signed`)).total,
      6,
      'the first request learns the challenge, the first referrers lookup that there is no API',
    );
    assert.equal((await verify(c, `${basic.host}/team/app:signed`)).total, 4);
    assert.equal((await verify(c, `${basic.host}/team/app@${signed.image.digest}`)).total, 3);
  });

  it('bearer auth: 401 and a token once per repository, then 0 extra', async () => {
    const c = client(config({ [registry.host]: ['admin', users.admin.password] }));
    assert.deepEqual((await verify(c, `${registry.host}/team-a/app:signed`)).byKind, { 'manifest-head': 2, token: 1, manifest: 2, blob: 1, referrers: 1 });
    assert.deepEqual(await verify(c, `${registry.host}/team-a/app:signed`), { total: 4, byKind: { 'manifest-head': 1, manifest: 2, blob: 1 } });
    assert.equal((await verify(c, `${registry.host}/team-a/app@${signed.image.digest}`)).total, 3);
  });
});

describe('TokenCache', () => {
  it('forgets a refused token only while it is still the cached one', () => {
    // Two requests sent the same token; one was refused and a fresh token fetched: the other's 401 must not drop the fresh one.
    const cache = new TokenCache(testNow);
    cache.set('origin/repo|ci', 'fresh', 300);
    cache.delete('origin/repo|ci', 'refused');
    assert.equal(cache.get('origin/repo|ci'), 'fresh');
    cache.delete('origin/repo|ci', 'fresh');
    assert.equal(cache.get('origin/repo|ci'), undefined);
  });
});
