import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildImage,
  bundleReferrer,
  cosignSignStatement,
  createKeylessFixture,
  legacySignatureManifest,
  pushManifest,
  referrersIndex,
  signatureTag,
  simpleSigningPayload,
  startRegistry,
  writeOciLayout,
  type BuiltManifest,
  type KeylessFixture,
  type TestRegistry,
} from '../../support/index.ts';
import { sigwatch } from '../../support/cli.ts';

const GITHUB = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1';
const IN_TOTO = 'application/vnd.in-toto+json';
const work = mkdtempSync(join(tmpdir(), 'sigwatch-bundles-'));
const rootFile = join(work, 'trusted_root.json');
let fixture: KeylessFixture;
let reg: TestRegistry;

/** Every manifest to store for one image: the image, its referrers and their fallback index, a legacy signature. */
type Stored = { tag: string; manifest: BuiltManifest }[];
const stored: Stored = [];

async function addImage(tag: string, make: (image: BuiltManifest) => Promise<{ referrers?: BuiltManifest[]; legacy?: BuiltManifest }>) {
  const image = buildImage({ seed: `bundle-${tag}` });
  const { referrers = [], legacy } = await make(image);
  stored.push({ tag, manifest: image });
  if (referrers.length) stored.push({ tag: image.digest.replace(':', '-'), manifest: referrersIndex(referrers) });
  if (legacy) stored.push({ tag: signatureTag(image.digest), manifest: legacy });
}

const sign = (statement: Buffer, subject = WORKFLOW) => fixture.signDsseKeyless(IN_TOTO, statement, { issuer: GITHUB, subject });

before(async () => {
  fixture = await createKeylessFixture();
  await fixture.writeTrustedRoot(rootFile);
  await addImage('v3-signed', async (image) => ({
    referrers: [bundleReferrer(image, await sign(cosignSignStatement('registry.example.com/acme/app', image.digest)))],
  }));
  await addImage('other-digest', async (image) => ({
    referrers: [bundleReferrer(image, await sign(cosignSignStatement('registry.example.com/acme/app', buildImage({ seed: 'elsewhere' }).digest)))],
  }));
  await addImage('wrong-predicate', async (image) => ({
    referrers: [bundleReferrer(image, await sign(cosignSignStatement('x', image.digest, 'https://slsa.dev/provenance/v1')))],
  }));
  await addImage('truncated', async (image) => {
    const bundle = (await sign(cosignSignStatement('x', image.digest))) as unknown as Record<string, unknown>;
    return { referrers: [bundleReferrer(image, { mediaType: bundle.mediaType, dsseEnvelope: bundle.dsseEnvelope })] };
  });
  await addImage('legacy-only', async (image) => {
    const payload = simpleSigningPayload('registry.example.com/acme/app', image.digest);
    const s = await fixture.signKeyless(payload, { issuer: GITHUB, subject: WORKFLOW });
    return {
      legacy: legacySignatureManifest([
        { payload, signature: s.signature, certificatePem: s.certificatePem, chainPem: s.chainPem, rekorBundle: s.rekorBundle },
      ]),
    };
  });
  await writeOciLayout(join(work, 'layout'), stored);
  reg = await startRegistry();
  for (const { tag, manifest } of stored) await pushManifest(reg, 'acme/app', tag, manifest);
});
after(async () => {
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

function policy(extra = ''): string {
  const file = join(work, `policy-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: cosign-v3}
spec:
  images: [{glob: "**"}]
  authorities:
    - keyless:
        identities: [{issuer: "${GITHUB}", subjectRegExp: "^https://github\\\\.com/acme/app/"}]
${extra}`,
  );
  return file;
}

for (const where of ['registry (referrers tag-schema fallback)', 'OCI layout'] as const) {
  describe(`cosign v3 sigstore bundles through referrers: ${where}`, () => {
    const verify = (tag: string, policyFile: string) =>
      where === 'OCI layout'
        ? sigwatch(
            'verify',
            `oci:${join(work, 'layout')}:${tag}`,
            '--policies',
            policyFile,
            '--as',
            `registry.example.com/acme/app:${tag}`,
            '--trusted-root',
            rootFile,
            '--format',
            'json',
          )
        : sigwatch(
            'verify',
            `${reg.host}/acme/app:${tag}`,
            '--policies',
            policyFile,
            '--insecure-registry',
            reg.host,
            '--trusted-root',
            rootFile,
            '--format',
            'json',
          );

    it('admits an image signed with a keyless DSSE bundle', async () => {
      const r = await verify('v3-signed', policy());
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(r.json().policies[0]!.authorities[0]!.signatures[0]!.identity, { issuer: GITHUB, subject: WORKFLOW });
    });

    it('denies a bundle whose statement names another digest', async () => {
      const r = await verify('other-digest', policy());
      assert.equal(r.code, 1);
      assert.match(r.json().reasons[0]!, /statement subjects do not include this image digest/);
    });

    it('denies a bundle that is not a cosign signature predicate', async () => {
      const r = await verify('wrong-predicate', policy());
      assert.equal(r.code, 1);
      assert.match(r.json().reasons[0]!, /is not a cosign signature/);
    });

    it('denies a truncated bundle', async () => {
      const r = await verify('truncated', policy());
      assert.equal(r.code, 1);
      assert.match(r.json().reasons[0]!, /not a valid sigstore bundle/);
    });

    it('reads legacy signatures too, unless signatureFormat is bundle', async () => {
      assert.equal((await verify('legacy-only', policy())).code, 0);
      const bundleOnly = await verify('legacy-only', policy('      signatureFormat: bundle\n'));
      assert.equal(bundleOnly.code, 1);
      // signatureFormat: bundle looks only among the referrers.
      assert.match(bundleOnly.json().reasons[0]!, /no signatures found in \S+ \(looked for bundles among the referrers of sha256:[0-9a-f]{64}\)$/);
      assert.equal((await verify('v3-signed', policy('      signatureFormat: bundle\n'))).code, 0);
    });
  });
}
