import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { buildImage, generateKeyPair, legacySignatureManifest, signatureTag, signPayload, simpleSigningPayload, writeOciLayout } from '../support/index.ts';
import { sigwatch } from '../support/cli.ts';

const key = generateKeyPair();
const secrets = mockClient(SecretsManagerClient);
const work = mkdtempSync(join(tmpdir(), 'sigwatch-secretref-'));
const policyFile = join(work, 'policy.yaml');

before(async () => {
  const image = buildImage({ seed: 'secretref' });
  const payload = simpleSigningPayload('registry.example.com/team/app', image.digest);
  await writeOciLayout(join(work, 'layout'), [
    { tag: 'v1', manifest: image },
    { tag: signatureTag(image.digest), manifest: legacySignatureManifest([{ payload, signature: signPayload(payload, key.privateKey) }]) },
  ]);
  writeFileSync(
    policyFile,
    `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: key-in-secret}
spec:
  images: [{glob: "**"}]
  authorities:
    - key:
        secretRef: {name: release-key}
`,
  );
});
afterEach(() => secrets.reset());
after(() => {
  secrets.restore();
  rmSync(work, { recursive: true, force: true });
});

const verify = (...extra: string[]) => sigwatch('verify', `oci:${join(work, 'layout')}:v1`, '--policies', policyFile, '--format', 'json', ...extra);

describe('key.secretRef from the team secrets (Secrets Manager)', () => {
  it('reads the one entry of the secret, as upstream reads a Kubernetes Secret', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ 'cosign.pub': Buffer.from(key.publicKeyPem).toString('base64') }) });
    const r = await verify('--secrets-prefix', 'sigwatch/acme');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(
      secrets.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input),
      [{ SecretId: 'sigwatch/acme/release-key' }],
    );
  });

  it('accepts a secret that is the PEM itself', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: key.publicKeyPem });
    assert.equal((await verify('--secrets-prefix', 'sigwatch/acme')).code, 0);
  });

  it("denies with upstream's reasons for a secret with several entries or a wrong key", async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ a: key.publicKeyPem, b: key.publicKeyPem }) });
    const several = await verify('--secrets-prefix', 'sigwatch/acme');
    assert.equal(several.code, 1);
    assert.match(several.json().reasons[0]!, /contains multiple data entries, only one is supported/);
    secrets.reset();
    secrets.on(GetSecretValueCommand).resolves({ SecretString: generateKeyPair().publicKeyPem });
    const wrong = await verify('--secrets-prefix', 'sigwatch/acme');
    assert.equal(wrong.code, 1);
    assert.match(wrong.json().reasons[0]!, /does not verify with the authority's key/);
  });

  it('denies when no secrets store is configured, asking AWS nothing', async () => {
    const r = await verify();
    assert.equal(r.code, 1);
    assert.match(r.json().reasons[0]!, /key\.secretRef release-key: no secrets store configured/);
    assert.equal(secrets.commandCalls(GetSecretValueCommand).length, 0);
  });
});
