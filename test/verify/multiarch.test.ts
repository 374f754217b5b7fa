import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildImage,
  buildIndex,
  generateKeyPair,
  keyPolicyYaml,
  legacySignatureManifest,
  pushManifest,
  signatureTag,
  signPayload,
  simpleSigningPayload,
  startRegistry,
  type TestRegistry,
} from '../support/index.ts';
import { sigwatch } from '../support/cli.ts';

const key = generateKeyPair();
const work = mkdtempSync(join(tmpdir(), 'sigwatch-multiarch-'));
const amd64 = buildImage({ seed: 'app', platform: { os: 'linux', architecture: 'amd64' } });
const arm64 = buildImage({ seed: 'app', platform: { os: 'linux', architecture: 'arm64' } });
const index = buildIndex([amd64, arm64]);
let reg: TestRegistry;

before(async () => {
  reg = await startRegistry();
  // As `cosign sign` on a multi-arch tag does by default: the index is signed, its children are not.
  await pushManifest(reg, 'team/app', 'v1', index);
  const payload = simpleSigningPayload(`${reg.host}/team/app`, index.digest);
  await pushManifest(reg, 'team/app', signatureTag(index.digest), legacySignatureManifest([{ payload, signature: signPayload(payload, key.privateKey) }]));
  writeFileSync(join(work, 'policy.yaml'), keyPolicyYaml('signed', '**', key.publicKeyPem));
});
after(async () => {
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

const verify = (ref: string) => sigwatch('verify', ref, '--policies', join(work, 'policy.yaml'), '--insecure-registry', reg.host, '--format', 'json');

describe('multi-arch images: the digest named is the digest verified', () => {
  it('admits the signed index, by tag and by digest', async () => {
    const byTag = await verify(`${reg.host}/team/app:v1`);
    assert.equal(byTag.code, 0, byTag.stdout);
    assert.equal(byTag.json().digest, index.digest);
    assert.equal((await verify(`${reg.host}/team/app@${index.digest}`)).code, 0);
  });

  it('denies a platform manifest that was not signed itself (cosign semantics)', async () => {
    const r = await verify(`${reg.host}/team/app@${amd64.digest}`);
    assert.equal(r.code, 1);
    assert.match(r.json().reasons[0]!, /no signatures found/);
  });

  it("never accepts the index's signature copied onto a child", async () => {
    const payload = simpleSigningPayload(`${reg.host}/team/app`, index.digest);
    const copied = legacySignatureManifest([{ payload, signature: signPayload(payload, key.privateKey) }]);
    await pushManifest(reg, 'team/app', signatureTag(arm64.digest), copied);
    const r = await verify(`${reg.host}/team/app@${arm64.digest}`);
    assert.equal(r.code, 1);
    assert.match(r.json().reasons[0]!, new RegExp(`signs ${index.digest}, not this image`));
  });
});
