import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  BUNDLE_V03_MEDIA_TYPE,
  buildArtifactManifest,
  buildImage,
  cosignSignStatement,
  createKeylessFixture,
  createTufRepository,
  legacySignatureManifest,
  referrersIndex,
  signatureTag,
  simpleSigningPayload,
  tufTrustRootYaml,
  writeOciLayout,
  type BuiltManifest,
  type KeylessFixture,
  type SignatureLayer,
} from '../support/index.ts';
import { sigwatch } from '../support/cli.ts';

/**
 * Issue #6's invariants that the other verify-*.test.ts files leave open, each
 * with the case that passes beside the case that must fail (the table in
 * docs/verification.md maps every invariant to its tests).
 */

const GITHUB = 'https://token.actions.githubusercontent.com';
const TEAM_A = 'https://github.com/acme/team-a/.github/workflows/release.yml@refs/heads/main';
const TEAM_B = 'https://github.com/acme/team-b/.github/workflows/release.yml@refs/heads/main';
const work = mkdtempSync(join(tmpdir(), 'sigwatch-invariants-'));
const layout = join(work, 'layout');
const rootFile = join(work, 'trusted_root.json');
let fixture: KeylessFixture;
let byoCa: KeylessFixture;
const stored: { tag: string; manifest: BuiltManifest }[] = [];

function addImage(tag: string, layers: SignatureLayer[], referrers: ((image: BuiltManifest) => BuiltManifest)[] = []): void {
  const image = buildImage({ seed: `invariant-${tag}` });
  stored.push({ tag, manifest: image });
  if (layers.length) stored.push({ tag: signatureTag(image.digest), manifest: legacySignatureManifest(layers) });
  if (referrers.length) stored.push({ tag: image.digest.replace(':', '-'), manifest: referrersIndex(referrers.map((r) => r(image))) });
}

/** Layers are signed for the digest the image will have: images are built from their tag's seed. */
const digestOf = (tag: string) => buildImage({ seed: `invariant-${tag}` }).digest;

async function keylessLayer(
  f: KeylessFixture,
  repository: string,
  digest: string,
  subject: string,
  opts: { timestamp?: boolean } = {},
): Promise<SignatureLayer> {
  const payload = simpleSigningPayload(repository, digest);
  const s = await f.signKeyless(payload, { issuer: GITHUB, subject }, opts);
  return {
    payload,
    signature: s.signature,
    certificatePem: s.certificatePem,
    chainPem: s.chainPem,
    rekorBundle: s.rekorBundle,
    rfc3161Timestamp: s.rfc3161Timestamp,
  };
}

before(async () => {
  fixture = await createKeylessFixture();
  await fixture.writeTrustedRoot(rootFile);
  byoCa = await createKeylessFixture({ ctLog: false });

  addImage('team-a', [await keylessLayer(fixture, 'registry.example.com/acme/team-a', digestOf('team-a'), TEAM_A)]);
  // Team A's signature, replayed on the same digest pushed to team B's repository.
  addImage('replayed', [await keylessLayer(fixture, 'registry.example.com/acme/team-a', digestOf('replayed'), TEAM_A)]);
  addImage('team-b', [await keylessLayer(fixture, 'registry.example.com/acme/team-b', digestOf('team-b'), TEAM_B)]);
  const unlogged = await keylessLayer(fixture, 'registry.example.com/acme/team-b', digestOf('no-log-time'), TEAM_B);
  delete unlogged.rekorBundle;
  addImage('no-log-time', [unlogged]);
  // A valid signature carrying the Rekor entry of another artifact signed by the same workflow.
  const mine = await keylessLayer(fixture, 'registry.example.com/acme/team-b', digestOf('other-entry'), TEAM_B);
  const theirs = await keylessLayer(fixture, 'registry.example.com/acme/team-b', buildImage({ seed: 'elsewhere' }).digest, TEAM_B);
  addImage('other-entry', [{ ...mine, rekorBundle: theirs.rekorBundle }]);
  // A private CA without Rekor or CT: a TSA dates the signature.
  const byo = await keylessLayer(byoCa, 'registry.example.com/acme/team-b', digestOf('byo-ca'), TEAM_B, { timestamp: true });
  delete byo.rekorBundle;
  addImage('byo-ca', [byo]);
  const foreign = await keylessLayer(fixture, 'registry.example.com/acme/team-b', digestOf('foreign-ca'), TEAM_B, { timestamp: true });
  delete foreign.rekorBundle;
  addImage('foreign-ca', [foreign]);
  // A cosign v3 bundle cut short in transit or storage: not even JSON.
  const signBundle = async (tag: string) =>
    JSON.stringify(
      await fixture.signDsseKeyless('application/vnd.in-toto+json', cosignSignStatement('registry.example.com/acme/team-b', digestOf(tag)), {
        issuer: GITHUB,
        subject: TEAM_B,
      }),
    );
  const bundle = await signBundle('cut-bundle');
  const referrer = (bytes: Buffer) => (image: BuiltManifest) =>
    buildArtifactManifest({
      artifactType: BUNDLE_V03_MEDIA_TYPE,
      subject: image,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', bytes: Buffer.from('{}') },
      layers: [{ mediaType: BUNDLE_V03_MEDIA_TYPE, bytes }],
    });
  addImage('cut-bundle', [], [referrer(Buffer.from(bundle.slice(0, Math.floor(bundle.length / 2))))]);
  addImage('whole-bundle', [], [referrer(Buffer.from(await signBundle('whole-bundle')))]);
  await writeOciLayout(layout, stored);
});
after(() => rmSync(work, { recursive: true, force: true }));

function policyFile(authority: string, prefix = ''): string {
  const file = join(work, `policy-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    `${prefix}apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: invariants}
spec:
  images: [{glob: "**"}]
  authorities:
    - name: the-authority
${authority}`,
  );
  return file;
}

const identity = (subject: string) => `      keyless:\n        identities: [{issuer: "${GITHUB}", subject: "${subject}"}]\n`;

const verify = (tag: string, policy: string, as = `registry.example.com/acme/team-b:${tag}`, ...extra: string[]) =>
  sigwatch('verify', `oci:${layout}:${tag}`, '--policies', policy, '--as', as, '--format', 'json', ...extra);

async function expectDeny(r: Awaited<ReturnType<typeof verify>>, reason: RegExp) {
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.json().reasons[0]!, reason);
}

describe('invariants of issue #6', () => {
  it('a signature replayed from another repository on the same digest is refused by identity, not admitted by digest', async () => {
    const teamB = policyFile(identity(TEAM_B));
    // The digest matches and the signature is valid, but it is team A's: team B's policy denies it.
    await expectDeny(
      await verify('replayed', teamB, undefined, '--trusted-root', rootFile),
      new RegExp(`none of the expected identities matched.*${TEAM_A.replace(/[./]/g, '\\$&')}`),
    );
    // Team B's own signature passes the same policy; team A's passes team A's policy wherever it is stored (cosign does not compare docker-reference).
    assert.equal((await verify('team-b', teamB, undefined, '--trusted-root', rootFile)).code, 0);
    assert.equal((await verify('replayed', policyFile(identity(TEAM_A)), undefined, '--trusted-root', rootFile)).code, 0);
  });

  it('a certificate with no log or timestamp time is refused even where Rekor is optional (no fallback to "now")', async () => {
    // trustRootRef without ctlog: upstream does not require Rekor here and would check the certificate at the current time.
    const repo = createTufRepository({ targets: { 'trusted_root.json': Buffer.from(JSON.stringify(fixture.trustedRoot)) } });
    const trustRoot = tufTrustRootYaml('private', { repository: { root: repo.root, mirrorFS: repo.mirrorFS() } });
    const policy = policyFile(`${identity(TEAM_B)}        trustRootRef: private\n`, trustRoot);
    await expectDeny(await verify('no-log-time', policy), /TIMESTAMP_ERROR/);
    assert.equal((await verify('team-b', policy)).code, 0, 'the same policy admits a logged signature');
  });

  it('an SCT that does not verify with the CT log key is refused', async () => {
    // The root names the CT log by its id but holds another key: the SCT's signature fails.
    const ctlogs = fixture.trustedRoot.ctlogs as { publicKey: { rawBytes: string } }[];
    const otherKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    const wrongSct = join(work, 'root-wrong-ct-key.json');
    writeFileSync(wrongSct, JSON.stringify({ ...fixture.trustedRoot, ctlogs: [{ ...ctlogs[0], publicKey: { ...ctlogs[0]!.publicKey, rawBytes: otherKey } }] }));
    await expectDeny(await verify('team-b', policyFile(identity(TEAM_B)), undefined, '--trusted-root', wrongSct), /SCT/);
    assert.equal((await verify('team-b', policyFile(identity(TEAM_B)), undefined, '--trusted-root', rootFile)).code, 0);
    // insecureIgnoreSCT skips the SCT check entirely, as cosign's --insecure-ignore-sct: the bad SCT is not looked at.
    const ignored = await verify('team-b', policyFile(`${identity(TEAM_B)}        insecureIgnoreSCT: true\n`), undefined, '--trusted-root', wrongSct);
    assert.equal(ignored.code, 0, ignored.stdout + ignored.stderr);
  });

  it('a Rekor entry for another artifact is refused, though its signed entry timestamp is genuine', async () => {
    await expectDeny(await verify('other-entry', policyFile(identity(TEAM_B)), undefined, '--trusted-root', rootFile), /TLOG_BODY_ERROR/);
  });

  it('keyless ca-cert is refused with its reason (policy-controller never reads it); a private CA works through a TrustRoot', async () => {
    const caKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const caCert = policyFile(
      `      keyless:\n        ca-cert:\n          data: |\n${caKey
        .trimEnd()
        .split('\n')
        .map((l) => `            ${l}`)
        .join('\n')}\n        identities: [{issuer: "${GITHUB}", subject: "${TEAM_B}"}]\n`,
    );
    const denied = await verify('byo-ca', caCert);
    assert.equal(denied.code, 1, denied.stdout + denied.stderr);
    assert.match(
      denied.json().policies[0]!.authorities[0]!.reason,
      /keyless ca-cert is not supported \(policy-controller does not verify against it either\); use a TrustRoot and trustRootRef/,
    );
    // The same private CA as a TrustRoot (CA and TSA only: no Rekor, no CT log) with a signed timestamp.
    const { tlogs: _tlogs, ctlogs: _ctlogs, ...caAndTsa } = byoCa.trustedRoot;
    const repo = createTufRepository({ targets: { 'trusted_root.json': Buffer.from(JSON.stringify({ ...caAndTsa, tlogs: [], ctlogs: [] })) } });
    const trustRoot = tufTrustRootYaml('byo-pki', { repository: { root: repo.root, mirrorFS: repo.mirrorFS() } });
    const byoPolicy = (extra: string) => policyFile(`${identity(TEAM_B)}        trustRootRef: byo-pki\n        insecureIgnoreSCT: true\n${extra}`, trustRoot);
    const admitted = await verify('byo-ca', byoPolicy('      rfc3161timestamp: {trustRootRef: byo-pki}\n'));
    assert.equal(admitted.code, 0, admitted.stdout + admitted.stderr);
    // The same kind of signature from another CA (and its TSA) is not from the private one.
    await expectDeny(await verify('foreign-ca', byoPolicy('      rfc3161timestamp: {trustRootRef: byo-pki}\n')), /CERTIFICATE_ERROR|TIMESTAMP_ERROR/);
  });

  it('a bundle cut short is refused as unreadable; the whole bundle verifies', async () => {
    await expectDeny(await verify('cut-bundle', policyFile(identity(TEAM_B)), undefined, '--trusted-root', rootFile), /bundle is not valid JSON/);
    const whole = await verify('whole-bundle', policyFile(identity(TEAM_B)), undefined, '--trusted-root', rootFile);
    assert.equal(whole.code, 0, whole.stdout + whole.stderr);
  });
});
