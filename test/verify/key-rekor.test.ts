import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildImage,
  createKeylessFixture,
  generateKeyPair,
  legacySignatureManifest,
  signatureTag,
  signPayload,
  simpleSigningPayload,
  writeOciLayout,
  type KeylessFixture,
  yamlBlock,
} from '../support/index.ts';
import { sigwatch } from '../support/cli.ts';

const key = generateKeyPair();
const work = mkdtempSync(join(tmpdir(), 'sigwatch-key-rekor-'));
const root = join(work, 'trusted_root.json');
let fixture: KeylessFixture;

before(async () => {
  fixture = await createKeylessFixture();
  await fixture.writeTrustedRoot(root);
  const entries = [];
  for (const [tag, logged] of [
    ['logged', true],
    ['unlogged', false],
  ] as const) {
    const image = buildImage({ seed: `key-rekor-${tag}` });
    const payload = simpleSigningPayload('registry.example.com/team/app', image.digest);
    const signature = signPayload(payload, key.privateKey);
    const rekorBundle = logged ? await fixture.logKeySignature(payload, signature, key.publicKeyPem) : undefined;
    entries.push({ tag, manifest: image }, { tag: signatureTag(image.digest), manifest: legacySignatureManifest([{ payload, signature, rekorBundle }]) });
  }
  await writeOciLayout(join(work, 'layout'), entries);
});
after(() => rmSync(work, { recursive: true, force: true }));

function policy(ctlog: boolean): string {
  const file = join(work, `policy-${ctlog}.yaml`);
  const pem = yamlBlock(key.publicKeyPem);
  writeFileSync(
    file,
    `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: key-and-rekor}
spec:
  images: [{glob: "**"}]
  authorities:
    - key:
        data: |
${pem}
${ctlog ? '      ctlog: {url: "https://rekor.sigwatch.test"}\n' : ''}`,
  );
  return file;
}

const verify = (tag: string, policyFile: string, ...extra: string[]) =>
  sigwatch('verify', `oci:${join(work, 'layout')}:${tag}`, '--policies', policyFile, '--format', 'json', ...extra);

describe('key authorities with ctlog: the Rekor entry is required (cosign without --insecure-ignore-tlog)', () => {
  it('admits a key signature logged in the trusted Rekor', async () => {
    const r = await verify('logged', policy(true), '--trusted-root', root);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  it('denies one without a Rekor entry, or logged in a Rekor the root does not trust', async () => {
    const unlogged = await verify('unlogged', policy(true), '--trusted-root', root);
    assert.equal(unlogged.code, 1);
    assert.match(unlogged.json().reasons[0]!, /no Rekor bundle annotation, and the authority requires the transparency log/);
    const untrusted = await verify('logged', policy(true));
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.json().reasons[0]!, /TLOG/);
  });

  it('skips the log without ctlog, as upstream does for keys', async () => {
    assert.equal((await verify('unlogged', policy(false))).code, 0);
  });
});
