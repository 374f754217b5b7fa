import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildImage,
  createKeylessFixture,
  legacySignatureManifest,
  signatureTag,
  simpleSigningPayload,
  writeOciLayout,
  type BuiltManifest,
  type KeylessFixture,
  type SignatureLayer,
} from '../support/index.ts';
import { sigwatch } from '../support/cli.ts';

const GITHUB = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
const work = mkdtempSync(join(tmpdir(), 'sigwatch-keyless-'));
const layout = join(work, 'layout');
const rootFile = join(work, 'trusted_root.json');
let fixture: KeylessFixture;
const images = new Map<string, { image: BuiltManifest; signature?: BuiltManifest }>();

/** A keyless signature layer for `digest`, optionally altered after signing. */
async function keylessLayer(digest: string, identity = { issuer: GITHUB, subject: WORKFLOW }, alter?: (l: SignatureLayer) => void) {
  const payload = simpleSigningPayload('registry.example.com/acme/app', digest);
  const s = await fixture.signKeyless(payload, identity);
  const layer: SignatureLayer = { payload, signature: s.signature, certificatePem: s.certificatePem, chainPem: s.chainPem, rekorBundle: s.rekorBundle };
  alter?.(layer);
  return layer;
}

before(async () => {
  fixture = await createKeylessFixture();
  await fixture.writeTrustedRoot(rootFile);
  const add = async (tag: string, layers: (digest: string, other: string) => Promise<SignatureLayer[]>) => {
    const image = buildImage({ seed: `keyless-${tag}` });
    const other = buildImage({ seed: `other-${tag}` }).digest;
    images.set(tag, { image, signature: legacySignatureManifest(await layers(image.digest, other)) });
  };
  await add('signed', async (d) => [await keylessLayer(d)]);
  await add('timestamped', async (d) => {
    // A private deployment with a TSA and no Rekor: the timestamp dates the certificate.
    const payload = simpleSigningPayload('registry.example.com/acme/app', d);
    const t = await fixture.signKeyless(payload, { issuer: GITHUB, subject: WORKFLOW }, { timestamp: true });
    return [{ payload, signature: t.signature, certificatePem: t.certificatePem, chainPem: t.chainPem, rfc3161Timestamp: t.rfc3161Timestamp }];
  });
  await add('email', async (d) => [await keylessLayer(d, { issuer: 'https://accounts.google.com', subject: 'release@acme.example' })]);
  await add('other-image', async (_d, other) => [await keylessLayer(other)]);
  await add('no-rekor', async (d) => [await keylessLayer(d, undefined, (l) => delete l.rekorBundle)]);
  await add('bad-set', async (d) => [
    await keylessLayer(d, undefined, (l) => (l.rekorBundle = { ...l.rekorBundle!, SignedEntryTimestamp: Buffer.alloc(70, 1).toString('base64') })),
  ]);
  await add('tampered', async (d) => [await keylessLayer(d, undefined, (l) => (l.payload = Buffer.concat([l.payload, Buffer.from('\n')])))]);
  await writeOciLayout(
    layout,
    [...images].flatMap(([tag, { image, signature }]) => [
      { tag, manifest: image },
      ...(signature ? [{ tag: signatureTag(image.digest), manifest: signature }] : []),
    ]),
  );
});
after(() => rmSync(work, { recursive: true, force: true }));

function keylessPolicy(identities: Record<string, string>[], extra = ''): string {
  const file = join(work, `policy-${Math.random().toString(36).slice(2)}.yaml`);
  const ids = identities.map((i) => `          - ${JSON.stringify(i)}`).join('\n');
  writeFileSync(
    file,
    `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: keyless-release}
spec:
  images: [{glob: "**"}]
  authorities:
    - name: github-release
      keyless:
        url: https://fulcio.sigstore.dev
        identities:
${ids}
${extra}`,
  );
  return file;
}

/** A TrustRoot resource (sigstoreKeys, base64 PEM as upstream stores it) for a harness trusted root. */
function trustRootYaml(name: string, root: Record<string, unknown>): string {
  const pemOf = (der: string, label: string) => `-----BEGIN ${label}-----\n${der.match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`;
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const cas = root.certificateAuthorities as { uri: string; certChain: { certificates: { rawBytes: string }[] } }[];
  const logs = (key: string) =>
    (root[key] as { baseUrl: string; publicKey: { rawBytes: string } }[]).map(
      (l) => `    - {baseURL: "${l.baseUrl}", hashAlgorithm: sha-256, publicKey: "${b64(pemOf(l.publicKey.rawBytes, 'PUBLIC KEY'))}"}`,
    );
  return `apiVersion: policy.sigstore.dev/v1alpha1
kind: TrustRoot
metadata: {name: ${name}}
spec:
  sigstoreKeys:
    certificateAuthorities:
${cas.map((c) => `    - {subject: {organization: test, commonName: fulcio}, uri: "${c.uri}", certChain: "${b64(c.certChain.certificates.map((x) => pemOf(x.rawBytes, 'CERTIFICATE')).join(''))}"}`).join('\n')}
    tLogs:
${logs('tlogs').join('\n')}
    ctLogs:
${logs('ctlogs').join('\n')}
    timestampAuthorities:
${(root.timestampAuthorities as typeof cas).map((c) => `    - {subject: {organization: test, commonName: tsa}, uri: "${c.uri}", certChain: "${b64(c.certChain.certificates.map((x) => pemOf(x.rawBytes, 'CERTIFICATE')).join(''))}"}`).join('\n')}
---
`;
}

const verify = (tag: string, policy: string, ...extra: string[]) =>
  sigwatch('verify', `oci:${layout}:${tag}`, '--policies', policy, '--as', `registry.example.com/acme/app:${tag}`, '--format', 'json', ...extra);

describe('keyless (Fulcio certificate, CT log, Rekor) verification', () => {
  const exact = () => keylessPolicy([{ issuer: GITHUB, subject: WORKFLOW }]);

  it('admits a keyless signature from the trusted root with the expected identity', async () => {
    const r = await verify('signed', exact(), '--trusted-root', rootFile);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const sig = r.json().policies[0]!.authorities[0]!.signatures[0]!;
    assert.deepEqual(sig.identity, { issuer: GITHUB, subject: WORKFLOW });
  });

  it('denies the same signature against the public-good root (untrusted CA)', async () => {
    const r = await verify('signed', exact());
    assert.equal(r.code, 1);
    assert.match(r.json().reasons[0]!, /CERTIFICATE_ERROR|TLOG_ERROR/);
  });

  it('matches regexps unanchored and on any SAN, as cosign does', async () => {
    const regexp = keylessPolicy([{ issuerRegExp: 'actions\\.githubusercontent', subjectRegExp: 'github\\.com/acme/' }]);
    assert.equal((await verify('signed', regexp, '--trusted-root', rootFile)).code, 0);
    const email = keylessPolicy([{ issuer: 'https://accounts.google.com', subject: 'release@acme.example' }]);
    assert.equal((await verify('email', email, '--trusted-root', rootFile)).code, 0);
  });

  it('denies when no identity matches, naming what the certificate holds', async () => {
    const wrongSubject = keylessPolicy([{ issuer: GITHUB, subject: 'https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main' }]);
    const r = await verify('signed', wrongSubject, '--trusted-root', rootFile);
    assert.equal(r.code, 1);
    assert.match(
      r.json().reasons[0]!,
      new RegExp(`none of the expected identities matched.*${WORKFLOW.replace(/[./]/g, '\\$&')}.*with issuer ${GITHUB.replace(/[./]/g, '\\$&')}`),
    );
    const wrongIssuer = keylessPolicy([{ issuer: 'https://gitlab.com', subject: WORKFLOW }]);
    assert.equal((await verify('signed', wrongIssuer, '--trusted-root', rootFile)).code, 1);
    const anchoredAway = keylessPolicy([{ issuer: GITHUB, subjectRegExp: '^github\\.com/acme/' }]);
    assert.equal((await verify('signed', anchoredAway, '--trusted-root', rootFile)).code, 1);
  });

  it("denies a valid keyless signature made for another image's digest", async () => {
    const r = await verify('other-image', exact(), '--trusted-root', rootFile);
    assert.equal(r.code, 1);
    assert.match(r.json().reasons[0]!, /signs sha256:[a-f0-9]{64}, not this image/);
  });

  it('denies without a Rekor entry, with a forged signed entry timestamp, and with a changed payload', async () => {
    const noRekor = await verify('no-rekor', exact(), '--trusted-root', rootFile);
    assert.equal(noRekor.code, 1);
    assert.match(noRekor.json().reasons[0]!, /TLOG_ERROR|TIMESTAMP_ERROR/);
    const badSet = await verify('bad-set', exact(), '--trusted-root', rootFile);
    assert.equal(badSet.code, 1);
    assert.match(badSet.json().reasons[0]!, /TLOG_INCLUSION_PROMISE_ERROR/);
    const tampered = await verify('tampered', exact(), '--trusted-root', rootFile);
    assert.equal(tampered.code, 1);
    assert.match(tampered.json().reasons[0]!, /TLOG_BODY_ERROR: digest mismatch/);
  });

  it('requires an SCT from a trusted CT log unless insecureIgnoreSCT', async () => {
    // A CT log missing from the root: the certificate's SCT cannot be verified.
    const noCt = join(work, 'root-without-ctlogs.json');
    writeFileSync(noCt, JSON.stringify({ ...fixture.trustedRoot, ctlogs: [] }));
    const strict = await verify('signed', exact(), '--trusted-root', noCt);
    assert.equal(strict.code, 1);
    assert.match(strict.json().reasons[0]!, /SCT/);
    // A private Fulcio without CT: no SCT at all, accepted only with insecureIgnoreSCT.
    const privateFulcio = await createKeylessFixture({ ctLog: false });
    const privateRoot = join(work, 'private-root.json');
    await privateFulcio.writeTrustedRoot(privateRoot);
    const dir = join(work, 'private-layout');
    const image = buildImage({ seed: 'private' });
    const payload = simpleSigningPayload('registry.example.com/acme/app', image.digest);
    const s = await privateFulcio.signKeyless(payload, { issuer: GITHUB, subject: WORKFLOW });
    await writeOciLayout(dir, [
      { tag: 'v1', manifest: image },
      {
        tag: signatureTag(image.digest),
        manifest: legacySignatureManifest([
          { payload, signature: s.signature, certificatePem: s.certificatePem, chainPem: s.chainPem, rekorBundle: s.rekorBundle },
        ]),
      },
    ]);
    const run = (policy: string) =>
      sigwatch('verify', `oci:${dir}:v1`, '--policies', policy, '--as', 'registry.example.com/acme/app:v1', '--trusted-root', privateRoot, '--format', 'json');
    const withoutFlag = await run(exact());
    assert.equal(withoutFlag.code, 1);
    assert.match(withoutFlag.json().reasons[0]!, /expected 1 SCTs, got 0/);
    const relaxed = await run(keylessPolicy([{ issuer: GITHUB, subject: WORKFLOW }], '        insecureIgnoreSCT: true\n'));
    assert.equal(relaxed.code, 0, relaxed.stdout);
  });

  it('verifies against a TrustRoot resource named by trustRootRef (a private sigstore)', async () => {
    const ours = join(work, 'trustroot-ours.yaml');
    const policyText = (ref: string) =>
      `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: private}
spec:
  images: [{glob: "**"}]
  authorities:
    - keyless:
        trustRootRef: ${ref}
        identities: [{issuer: "${GITHUB}", subject: "${WORKFLOW}"}]
      ctlog: {trustRootRef: ${ref}}
`;
    writeFileSync(ours, trustRootYaml('private-sigstore', fixture.trustedRoot) + policyText('private-sigstore'));
    const admitted = await verify('signed', ours);
    assert.equal(admitted.code, 0, admitted.stdout + admitted.stderr);
    // The same policy trusting another private sigstore: the signature's CA is unknown there.
    const other = await createKeylessFixture();
    const theirs = join(work, 'trustroot-theirs.yaml');
    writeFileSync(theirs, trustRootYaml('private-sigstore', other.trustedRoot) + policyText('private-sigstore'));
    const denied = await verify('signed', theirs);
    assert.equal(denied.code, 1);
    assert.match(denied.json().reasons[0]!, /CERTIFICATE_ERROR/);
    // A trustRootRef naming nothing is a configuration error, not a silent fallback.
    const dangling = join(work, 'trustroot-dangling.yaml');
    writeFileSync(dangling, policyText('nowhere'));
    assert.equal((await verify('signed', dangling)).code, 2);
  });

  it('requires a signed timestamp from the TrustRoot TSA with rfc3161timestamp, and then no Rekor', async () => {
    const file = join(work, 'tsa-policy.yaml');
    writeFileSync(
      file,
      trustRootYaml('tsa-root', fixture.trustedRoot) +
        `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: timestamped}
spec:
  images: [{glob: "**"}]
  authorities:
    - keyless:
        trustRootRef: tsa-root
        identities: [{issuer: "${GITHUB}", subject: "${WORKFLOW}"}]
      rfc3161timestamp: {trustRootRef: tsa-root}
`,
    );
    const timestamped = await verify('timestamped', file);
    assert.equal(timestamped.code, 0, timestamped.stdout + timestamped.stderr);
    const logged = await verify('signed', file);
    assert.equal(logged.code, 1);
    assert.match(logged.json().reasons[0]!, /no RFC 3161 timestamp annotation, and the authority requires one/);
    // Without rfc3161timestamp the default rules want Rekor, which the timestamped signature lacks.
    assert.equal((await verify('timestamped', exact(), '--trusted-root', rootFile)).code, 1);
  });

  it('exits 2 on an unusable --trusted-root', async () => {
    const bad = join(work, 'bad-root.json');
    writeFileSync(bad, '{"mediaType": "x"}');
    assert.equal((await verify('signed', exact(), '--trusted-root', bad)).code, 2);
    assert.equal((await verify('signed', exact(), '--trusted-root', join(work, 'missing.json'))).code, 2);
  });
});
