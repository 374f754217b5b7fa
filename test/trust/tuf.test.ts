import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TrustRootResolver } from '../../src/trust/trust-roots.ts';
import type { TrustRoot } from '../../src/policy/types.ts';
import {
  createKeylessFixture,
  createTufRepository,
  legacySigstoreTargets,
  serveTufRepository,
  tufTrustRootYaml,
  writeKeylessSignedLayout,
  type KeylessFixture,
  type ServedTufRepository,
  type TufRepository,
} from '../support/index.ts';
import { startHttpServer } from '../support/http-server.ts';
import { sigwatch } from '../support/cli.ts';
import { testNow } from '../support/clock.ts';

const GITHUB = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
const work = mkdtempSync(join(tmpdir(), 'sigwatch-tuf-'));
const layout = join(work, 'layout');
let fixture: KeylessFixture;
let repo: TufRepository;
let mirror: ServedTufRepository;
const servers: ServedTufRepository[] = [];

/** A keyless-signed image in an OCI layout, made with the test Fulcio/CT/Rekor. */
before(async () => {
  fixture = await createKeylessFixture();
  await writeKeylessSignedLayout(layout, fixture, { seed: 'tuf-signed', identity: { issuer: GITHUB, subject: WORKFLOW } });
  repo = createTufRepository({ targets: { 'trusted_root.json': Buffer.from(JSON.stringify(fixture.trustedRoot)) } });
  mirror = await serve(repo);
});
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(work, { recursive: true, force: true });
});

async function serve(r: TufRepository): Promise<ServedTufRepository> {
  const served = await serveTufRepository(r);
  servers.push(served);
  return served;
}

/** A policy requiring the test identity, Rekor and SCTs against the TrustRoot `name`, after that TrustRoot. */
function policyFile(trustRootYaml: string, name: string): string {
  const file = join(work, `policy-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    `${trustRootYaml}apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: tuf-trust}
spec:
  images: [{glob: "**"}]
  authorities:
    - name: private-sigstore
      keyless:
        trustRootRef: ${name}
        identities: [{issuer: "${GITHUB}", subject: "${WORKFLOW}"}]
      ctlog: {trustRootRef: ${name}}
`,
  );
  return file;
}

const verify = (policy: string) =>
  sigwatch('verify', `oci:${layout}:signed`, '--policies', policy, '--as', 'registry.example.com/acme/app:signed', '--format', 'json');

async function expectDeny(policy: string, reason: RegExp) {
  const r = await verify(policy);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const authority = r.json().policies[0]!.authorities[0]!;
  assert.equal(authority.verdict, 'fail');
  assert.deepEqual(authority.signatures, []);
  assert.match(authority.reason, reason);
}

describe('TrustRoot remote: a TUF mirror over HTTP', () => {
  it('admits a keyless signature whose Fulcio, Rekor and CT log come from the TUF trusted_root.json', async () => {
    const r = await verify(policyFile(tufTrustRootYaml('tuf-remote', { remote: { mirror: mirror.url, root: repo.root } }), 'tuf-remote'));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(r.json().policies[0]!.authorities[0]!.signatures[0]!.identity, { issuer: GITHUB, subject: WORKFLOW });
    // The client walked TUF: root rotation probe, timestamp, versioned snapshot and targets, hash-prefixed target.
    const hash = [...repo.files.keys()].find((p) => p.endsWith('.trusted_root.json'))!;
    for (const path of ['2.root.json', 'timestamp.json', '1.snapshot.json', '1.targets.json', hash]) assert.ok(mirror.requests.includes(path), path);
  });

  it('admits through the legacy targets (fulcio.crt.pem, rekor.pub, ctfe.pub) when the repository has no trusted_root.json', async () => {
    const legacy = createTufRepository({ targets: legacySigstoreTargets(fixture.trustedRoot) });
    const served = await serve(legacy);
    const r = await verify(policyFile(tufTrustRootYaml('tuf-legacy', { remote: { mirror: served.url, root: legacy.root } }), 'tuf-legacy'));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    // Without a Fulcio target, upstream's rule: no certificate authorities, no trust root.
    const { 'fulcio.crt.pem': _fulcio, ...rest } = legacySigstoreTargets(fixture.trustedRoot);
    const noCa = createTufRepository({ targets: rest });
    const noCaMirror = await serve(noCa);
    await expectDeny(
      policyFile(tufTrustRootYaml('tuf-no-ca', { remote: { mirror: noCaMirror.url, root: noCa.root } }), 'tuf-no-ca'),
      /TrustRoot tuf-no-ca: .*no certificate authorities found/,
    );
  });

  it('denies when the TrustRoot root is not the one that signed the metadata', async () => {
    const other = createTufRepository({ targets: { 'trusted_root.json': Buffer.from(JSON.stringify(fixture.trustedRoot)) } });
    await expectDeny(
      policyFile(tufTrustRootYaml('tuf-wrong-root', { remote: { mirror: mirror.url, root: other.root } }), 'tuf-wrong-root'),
      /TrustRoot tuf-wrong-root: TUF metadata .* does not verify: timestamp was signed by 0\/1 keys/,
    );
  });

  it('denies when the TUF metadata has expired', async () => {
    const expired = createTufRepository({
      targets: { 'trusted_root.json': Buffer.from(JSON.stringify(fixture.trustedRoot)) },
      timestampExpires: new Date(Date.now() - 3600_000),
    });
    const served = await serve(expired);
    await expectDeny(
      policyFile(tufTrustRootYaml('tuf-expired', { remote: { mirror: served.url, root: expired.root } }), 'tuf-expired'),
      /TrustRoot tuf-expired: .*timestamp\.json is expired/,
    );
  });

  it("denies when the trusted_root.json served does not match the target's hash", async () => {
    const tampered = createTufRepository({ targets: { 'trusted_root.json': Buffer.from(JSON.stringify(fixture.trustedRoot)) } });
    const path = [...tampered.files.keys()].find((p) => p.endsWith('.trusted_root.json'))!;
    // Same length, other content: another CA would be trusted if the hash were not checked.
    const text = tampered.files.get(path)!.toString('utf8');
    tampered.files.set(path, Buffer.from(text.replace('sigstore.mock', 'sigstore.MOCK')));
    const served = await serve(tampered);
    await expectDeny(
      policyFile(tufTrustRootYaml('tuf-tampered', { remote: { mirror: served.url, root: tampered.root } }), 'tuf-tampered'),
      /TrustRoot tuf-tampered: downloading target trusted_root\.json: .*hash/i,
    );
  });

  it('denies when the mirror is unreachable, naming the TrustRoot and the cause', async () => {
    const closed = await startHttpServer((_req, res) => res.end());
    await closed.close();
    await expectDeny(
      policyFile(tufTrustRootYaml('tuf-down', { remote: { mirror: closed.url, root: repo.root } }), 'tuf-down'),
      /TrustRoot tuf-down: TUF metadata from http:\/\/127\.0\.0\.1:\d+ does not verify: .*ECONNREFUSED/,
    );
  });
});

describe('TrustRoot repository: a TUF repository inline (mirrorFS)', () => {
  it('admits through a gzipped tar of the repository, with GNU and PAX tar headers, without any network', async () => {
    for (const format of ['gnu', 'pax'] as const) {
      const name = `tuf-mirrorfs-${format}`;
      const r = await verify(policyFile(tufTrustRootYaml(name, { repository: { root: repo.root, mirrorFS: repo.mirrorFS(format) } }), name));
      assert.equal(r.code, 0, r.stdout + r.stderr);
    }
  });

  it('denies a mirrorFS whose root, expiry or target hash is wrong', async () => {
    const other = createTufRepository({ targets: { 'trusted_root.json': Buffer.from('{}') } });
    await expectDeny(
      policyFile(tufTrustRootYaml('fs-wrong-root', { repository: { root: other.root, mirrorFS: repo.mirrorFS() } }), 'fs-wrong-root'),
      /TrustRoot fs-wrong-root: TUF metadata from mem:\/\/repo\/ does not verify/,
    );
    const expired = createTufRepository({
      targets: { 'trusted_root.json': Buffer.from(JSON.stringify(fixture.trustedRoot)) },
      expires: new Date(Date.now() - 60_000),
    });
    await expectDeny(
      policyFile(tufTrustRootYaml('fs-expired', { repository: { root: expired.root, mirrorFS: expired.mirrorFS() } }), 'fs-expired'),
      /TrustRoot fs-expired: .*expired/,
    );
    const tampered = createTufRepository({ targets: { 'trusted_root.json': Buffer.from(JSON.stringify(fixture.trustedRoot)) } });
    const path = [...tampered.files.keys()].find((p) => p.endsWith('.trusted_root.json'))!;
    tampered.files.set(path, Buffer.from(JSON.stringify({ ...fixture.trustedRoot, ctlogs: [] })));
    await expectDeny(
      policyFile(tufTrustRootYaml('fs-tampered', { repository: { root: tampered.root, mirrorFS: tampered.mirrorFS() } }), 'fs-tampered'),
      /TrustRoot fs-tampered: downloading target trusted_root\.json/,
    );
  });
});

describe('TrustRoot resolver cache', () => {
  const trustRoot = (name: string, url: string, root: Buffer): TrustRoot => ({
    apiVersion: 'policy.sigstore.dev/v1alpha1',
    kind: 'TrustRoot',
    metadata: { name },
    spec: { remote: { mirror: url, root: root.toString('base64'), targets: 'targets' } },
    origin: { file: 'test', index: 0 },
  });

  it('fetches once per TrustRoot until the TUF metadata expires, then again', async () => {
    const r = createTufRepository({ targets: { 'trusted_root.json': Buffer.from(JSON.stringify(fixture.trustedRoot)) } });
    const served = await serve(r);
    let now = Date.now();
    const resolver = new TrustRootResolver({ now: () => now, fetchRetries: 0 });
    const root = trustRoot('cached', served.url, r.root);
    const first = await resolver.material(root);
    const fetched = served.requests.length;
    assert.ok(fetched >= 4);
    assert.equal(await resolver.material(root), first);
    assert.equal(served.requests.length, fetched, 'no request while the metadata is fresh');
    now = r.expires.getTime() + 1;
    assert.notEqual(await resolver.material(root), first);
    assert.equal(served.requests.length, 2 * fetched, 'fetched again after the expiry');
    // The same name with another spec is another entry.
    await resolver.material(trustRoot('cached', `${served.url}/`, r.root));
    assert.equal(served.requests.length, 3 * fetched);
  });

  it('keeps no failure and no stale material: an expired entry that cannot be refreshed fails', async () => {
    const r = createTufRepository({ targets: { 'trusted_root.json': Buffer.from(JSON.stringify(fixture.trustedRoot)) } });
    const served = await serve(r);
    let now = Date.now();
    const resolver = new TrustRootResolver({ now: () => now, fetchRetries: 0 });
    const root = trustRoot('flaky', served.url, r.root);
    served.offline = true;
    await assert.rejects(
      resolver.material(root),
      (err: Error & { code?: string }) => err.code === 'TRUST_ROOT' && /TrustRoot flaky: .*HTTP 503/.test(err.message),
    );
    served.offline = false;
    await resolver.material(root);
    served.offline = true;
    now = r.expires.getTime() + 1;
    await assert.rejects(resolver.material(root), /TrustRoot flaky/);
  });

  it('names a trustRootRef that is not in the policy set', async () => {
    await assert.rejects(new TrustRootResolver({ now: testNow }).lookup([], 'nowhere'), /trustRootRef nowhere: no TrustRoot of that name/);
  });
});
