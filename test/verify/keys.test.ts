import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  buildImage,
  generateKeyPair,
  legacySignatureManifest,
  signatureTag,
  signPayload,
  simpleSigningPayload,
  writeOciLayout,
  type KeyAlgorithm,
  yamlBlock,
} from '../support/index.ts';
import { sigwatch } from '../support/cli.ts';

const work = mkdtempSync(join(tmpdir(), 'sigwatch-keys-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** One image signed with a fresh key of `alg` over `hash`, in its own layout, and a policy for it. */
async function signedWith(alg: KeyAlgorithm, hash: string, policyHash?: string, extraKeys: string[] = []) {
  const key = generateKeyPair(alg);
  const image = buildImage({ seed: `${alg}-${hash}` });
  const payload = simpleSigningPayload('registry.example.com/team/app', image.digest);
  const dir = join(work, `${alg}-${hash}-${policyHash ?? 'default'}-${extraKeys.length}`);
  await writeOciLayout(dir, [
    { tag: 'v1', manifest: image },
    { tag: signatureTag(image.digest), manifest: legacySignatureManifest([{ payload, signature: signPayload(payload, key.privateKey, hash) }]) },
  ]);
  const pem = yamlBlock([...extraKeys, key.publicKeyPem].join(''));
  const policy = join(dir, 'policy.yaml');
  writeFileSync(
    policy,
    `apiVersion: policy.sigstore.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {name: keys}
spec:
  images: [{glob: "**"}]
  authorities:
    - key:
${policyHash ? `        hashAlgorithm: ${policyHash}\n` : ''}        data: |
${pem}
`,
  );
  return sigwatch('verify', `oci:${dir}:v1`, '--policies', policy, '--format', 'json');
}

describe('public key authorities', () => {
  for (const alg of ['ecdsa-p256', 'ecdsa-p384', 'rsa', 'ed25519'] as const) {
    it(`verifies ${alg} signatures`, async () => {
      const r = await signedWith(alg, 'sha256');
      assert.equal(r.code, 0, r.stdout);
      assert.equal(r.json().policies[0]!.authorities[0]!.name, 'authority-0', 'unnamed authorities get upstream default names');
    });
  }

  it('honours hashAlgorithm, and denies when the signature used another hash', async () => {
    assert.equal((await signedWith('ecdsa-p384', 'sha384', 'sha384')).code, 0);
    assert.equal((await signedWith('ecdsa-p256', 'sha512', 'sha512')).code, 0);
    const mismatch = await signedWith('ecdsa-p256', 'sha512');
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.json().reasons[0]!, /does not verify/);
  });

  it('accepts a signature by any of several keys in key.data', async () => {
    const others = [generateKeyPair().publicKeyPem, generateKeyPair('rsa').publicKeyPem];
    const r = await signedWith('ecdsa-p256', 'sha256', undefined, others);
    assert.equal(r.code, 0, r.stdout);
  });
});
