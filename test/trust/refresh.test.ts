import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  createKeylessFixture,
  createTufRepository,
  legacySigstoreTargets,
  serveTufRepository,
  writeKeylessSignedLayout,
  type KeylessFixture,
  type ServedTufRepository,
  type TufRepository,
} from '../support/index.ts';
import { sigwatch } from '../support/cli.ts';

const GITHUB = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
const work = mkdtempSync(join(tmpdir(), 'sigwatch-trust-refresh-'));
const layout = join(work, 'layout');
const policy = join(work, 'policy.yaml');
let fixture: KeylessFixture;
let repo: TufRepository;
let rootFile: string;
const servers: ServedTufRepository[] = [];

before(async () => {
  fixture = await createKeylessFixture();
  await writeKeylessSignedLayout(layout, fixture, { seed: 'refresh-signed', identity: { issuer: GITHUB, subject: WORKFLOW } });
  repo = createTufRepository({ targets: { 'trusted_root.json': Buffer.from(JSON.stringify(fixture.trustedRoot)) } });
  rootFile = join(work, 'root.json');
  writeFileSync(rootFile, repo.root);
  // No trustRootRef: the authority uses --trusted-root, as `cosign verify --trusted-root` does.
  writeFileSync(
    policy,
    `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: keyless}
spec:
  images: [{glob: "**"}]
  authorities:
    - keyless:
        identities: [{issuer: "${GITHUB}", subject: "${WORKFLOW}"}]
`,
  );
});
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(work, { recursive: true, force: true });
});

async function serve(r: TufRepository) {
  const served = await serveTufRepository(r);
  servers.push(served);
  return served;
}

const verifyWith = (trustedRoot: string) =>
  sigwatch(
    'verify',
    `oci:${layout}:signed`,
    '--policies',
    policy,
    '--as',
    'registry.example.com/acme/app:signed',
    '--trusted-root',
    trustedRoot,
    '--format',
    'json',
  );

describe('sigwatch trust refresh', () => {
  it('writes the TUF-verified trusted root, which verify --trusted-root then uses', async () => {
    const mirror = await serve(repo);
    const out = join(work, 'refreshed.json');
    const r = await sigwatch('trust', 'refresh', '--mirror', mirror.url, '--root', rootFile, '--out', out);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`wrote .*refreshed\\.json: trusted_root\\.json from ${mirror.url} \\(1 CA, 1 Rekor, 1 CT log, 1 TSA\\); TUF metadata valid until \\d{4}-`),
    );
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')).tlogs[0].logId, (fixture.trustedRoot.tlogs as { logId: unknown }[])[0]!.logId);
    const verified = await verifyWith(out);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  });

  it('assembles the trusted root from legacy targets when there is no trusted_root.json', async () => {
    const legacy = createTufRepository({ targets: legacySigstoreTargets(fixture.trustedRoot) });
    const mirror = await serve(legacy);
    const legacyRoot = join(work, 'legacy-root.json');
    writeFileSync(legacyRoot, legacy.root);
    const out = join(work, 'legacy.json');
    const r = await sigwatch('trust', 'refresh', '--mirror', mirror.url, '--root', legacyRoot, '--out', out);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ctfe\.pub, fulcio\.crt\.pem, rekor\.pub, tsa\.chain\.pem from .* \(1 CA, 1 Rekor, 1 CT log, 1 TSA\)/);
    assert.equal((await verifyWith(out)).code, 0);
  });

  it('writes nothing and exits 1 when the repository does not verify from the given root', async () => {
    const mirror = await serve(repo);
    const stranger = join(work, 'stranger-root.json');
    writeFileSync(stranger, createTufRepository({ targets: {} }).root);
    const out = join(work, 'never.json');
    const r = await sigwatch('trust', 'refresh', '--mirror', mirror.url, '--root', stranger, '--out', out);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`trust refresh from ${mirror.url}: TUF metadata .* does not verify: timestamp was signed by 0/1 keys`));
    assert.equal(existsSync(out), false);
    const expired = createTufRepository({
      targets: { 'trusted_root.json': Buffer.from(JSON.stringify(fixture.trustedRoot)) },
      expires: new Date(Date.now() - 1000),
    });
    const expiredMirror = await serve(expired);
    const expiredRoot = join(work, 'expired-root.json');
    writeFileSync(expiredRoot, expired.root);
    const e = await sigwatch('trust', 'refresh', '--mirror', expiredMirror.url, '--root', expiredRoot, '--out', out);
    assert.equal(e.code, 1);
    assert.match(e.stderr, /expired/);
    assert.equal(existsSync(out), false);
  });

  it('exits 2 on usage errors, before any network', async () => {
    assert.equal((await sigwatch('trust', 'refresh', '--mirror', 'http://127.0.0.1:9')).code, 2, 'no --out');
    const noRoot = await sigwatch('trust', 'refresh', '--mirror', 'http://127.0.0.1:9', '--out', join(work, 'x.json'));
    assert.equal(noRoot.code, 2);
    assert.match(noRoot.stderr, /--root FILE is required with --mirror http:\/\/127\.0\.0\.1:9/);
    const missing = await sigwatch('trust', 'refresh', '--mirror', 'http://127.0.0.1:9', '--root', join(work, 'missing.json'), '--out', join(work, 'x.json'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read TUF root .*missing\.json/);
    assert.equal((await sigwatch('trust', 'rotate')).code, 2);
    assert.equal((await sigwatch('trust', 'refresh', '--help')).code, 0);
  });
});
