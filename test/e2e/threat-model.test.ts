/**
 * The threat model (docs/reliability.md, "Threat model"), through the deployed
 * on-push handler: a policy author of one group (acme/payments) tries to use
 * another group's (acme/retail's) role, registry and KMS keys. Each hostile
 * record sits in a batch beside a healthy one, which still gets its verdict.
 */
import { kmsPolicyYaml } from '../support/samples.ts';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { buildArtifactManifest, buildImage, keyPolicyYaml, pushManifest, signImageWithKey } from '../support/index.ts';
import { BUNDLE_V03_MEDIA_TYPE, referrersIndex } from '../support/bundles.ts';
import { BUCKET, ecrHost, KMS_KEY_ARN, kmsKey, OnPushScenario, PAYMENTS, releaseKey, RETAIL } from '../support/on-push-scenario.ts';

const RETAIL_KMS_KEY = `arn:aws:kms:eu-west-1:${RETAIL}:key/5e1d2c3b-4a59-4f6e-8d7c-1b2a3c4d5e6f`;

describe('threat model: a policy author of one group', () => {
  let sc: OnPushScenario;
  const deputy = buildImage({ seed: 'threat-deputy' });
  const kmsDeputy = buildImage({ seed: 'threat-kms-deputy' });

  before(async () => {
    sc = await OnPushScenario.start();
    const { reg, s3 } = sc.servers;
    // payments' image, signed where acme's policy looks (its own repository) …
    await pushManifest(reg, 'team/deputy', 'v1', deputy);
    await signImageWithKey(reg, 'team/deputy', deputy, releaseKey.privateKey);
    await pushManifest(reg, 'team/kmsdeputy', 'v1', kmsDeputy);
    await signImageWithKey(reg, 'team/kmsdeputy', kmsDeputy, releaseKey.privateKey);
    await signImageWithKey(reg, 'team/kmsdeputy', kmsDeputy, kmsKey.privateKey);
    // … and where payments' hostile policy points: a repository of retail's registry, only readable with retail's role.
    await signImageWithKey(reg, 'team/sigs', deputy, releaseKey.privateKey);
    await s3.put(
      BUCKET,
      'policies/acme/payments/deputy.yaml',
      keyPolicyYaml('deputy', '**/team/deputy*', releaseKey.publicKeyPem).replace(
        '    - name: release-key\n',
        `    - name: release-key\n      source:\n        - oci: ${ecrHost(RETAIL)}/team/sigs\n`,
      ),
    );
    await s3.put(
      BUCKET,
      'policies/acme/payments/kms-deputy.yaml',
      kmsPolicyYaml('kms-deputy', '**/team/kmsdeputy*', `awskms:///${RETAIL_KMS_KEY}`, 'retail-key'),
    );
  });
  beforeEach(() => sc.reset());
  after(() => sc?.stop());

  const healthy = () => ({ id: 'healthy', body: sc.event('healthy', PAYMENTS, { 'image-digest': sc.images.signed!.digest, 'image-tag': 'v1' }) });
  const assumedAccounts = () => sc.sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input.RoleArn!.split(':')[4]);

  it("cannot read another team's registry with its role: source.oci there is read anonymously, and the verdict says why", async () => {
    const res = await sc.handler()(
      sc.batch(healthy(), {
        id: 'deputy',
        body: sc.event('deputy', PAYMENTS, { 'repository-name': 'team/deputy', 'image-digest': deputy.digest, 'image-tag': 'v1' }),
      }),
    );
    assert.deepEqual(res.batchItemFailures, []);
    const byDigest = new Map((await sc.received('payments')).map((n) => [n.digest, n]));
    assert.equal(byDigest.get(sc.images.signed!.digest)?.verdict, 'admit');
    const n = byDigest.get(deputy.digest)!;
    assert.equal(n.verdict, 'deny', JSON.stringify(n));
    assert.equal(n.policies.find((p) => p.name === 'deputy')?.verdict, 'fail');
    assert.ok(
      n.reasons.some(
        (r) =>
          r.startsWith(
            `no credentials used for ${ecrHost(RETAIL)}/team/sigs: account ${RETAIL} is associated with group acme/retail, which does not serve group acme/payments`,
          ) && r.endsWith('it was read anonymously'),
      ),
      n.reasons.join('\n'),
    );
    // Retail's role was never assumed and no ECR token was asked for in its account.
    assert.deepEqual([...new Set(assumedAccounts())], [PAYMENTS]);
    assert.equal(sc.ecr.commandCalls(GetAuthorizationTokenCommand).length, 1);
  });

  it("cannot call another team's KMS key with its role: the key is refused without a request", async () => {
    const kms = mockClient(KMSClient);
    try {
      const der = createPublicKey(kmsKey.publicKeyPem).export({ type: 'spki', format: 'der' });
      kms.on(GetPublicKeyCommand).resolves({ KeyId: RETAIL_KMS_KEY, PublicKey: new Uint8Array(der), KeySpec: 'ECC_NIST_P256' });
      const res = await sc.handler()(
        sc.batch(healthy(), {
          id: 'kms',
          body: sc.event('kms-deputy', PAYMENTS, { 'repository-name': 'team/kmsdeputy', 'image-digest': kmsDeputy.digest, 'image-tag': 'v1' }),
        }),
      );
      assert.deepEqual(res.batchItemFailures, []);
      const byDigest = new Map((await sc.received('payments')).map((n) => [n.digest, n]));
      assert.equal(byDigest.get(sc.images.signed!.digest)?.verdict, 'admit');
      const n = byDigest.get(kmsDeputy.digest)!;
      assert.equal(n.verdict, 'deny', JSON.stringify(n));
      const policy = n.policies.find((p) => p.name === 'kms-deputy')!;
      assert.equal(policy.verdict, 'fail');
      assert.match(
        JSON.stringify(policy),
        new RegExp(
          `KMS key ${RETAIL_KMS_KEY.replace(/[/.]/g, '\\$&')}: refused: account ${RETAIL} is associated with group acme/retail, which does not serve group acme/payments`,
        ),
      );
      // (payments' own kms-signed policy matches team/kms* too: its key, in payments' account, is read as before.)
      assert.deepEqual(
        kms.commandCalls(GetPublicKeyCommand).map((c) => c.args[0].input.KeyId),
        [KMS_KEY_ARN],
      );
      assert.deepEqual([...new Set(assumedAccounts())], [PAYMENTS]);
    } finally {
      kms.restore();
    }
  });
});

describe('threat model: an attacker with push rights in one account', () => {
  let sc: OnPushScenario;
  // The largest blob sigwatch reads as one piece of evidence, made of as many tiny JSON objects as fit: the worst to parse.
  const hostileJson = Buffer.from(`[${'{},'.repeat((4 * 1024 * 1024 - 16) / 3)}{}]`);
  const bundleFlood = buildImage({ seed: 'threat-bundle-flood' });
  const sigFlood = buildImage({ seed: 'threat-sig-flood' });
  const EMPTY_CONFIG = { mediaType: 'application/vnd.oci.empty.v1+json', bytes: Buffer.from('{}') };

  before(async () => {
    sc = await OnPushScenario.start();
    const { reg } = sc.servers;
    await pushManifest(reg, 'team/app', 'bundles', bundleFlood);
    await pushManifest(reg, 'team/app', 'sigs', sigFlood);
    // 100 cosign-v3-shaped referrers of the image, each a manifest of its own, all naming the one hostile blob.
    const referrers = Array.from({ length: 100 }, (_, i) =>
      buildArtifactManifest({
        artifactType: BUNDLE_V03_MEDIA_TYPE,
        subject: bundleFlood,
        annotations: { 'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1', n: String(i) },
        config: EMPTY_CONFIG,
        layers: [{ mediaType: BUNDLE_V03_MEDIA_TYPE, bytes: hostileJson }],
      }),
    );
    await pushManifest(reg, 'team/app', bundleFlood.digest.replace(':', '-'), referrersIndex(referrers));
    // A `.sig` manifest of 1000 layers (as many as cosign accepts), every one naming the hostile blob.
    const sig = buildArtifactManifest({
      config: EMPTY_CONFIG,
      layers: Array.from({ length: 1000 }, () => ({
        mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
        bytes: hostileJson,
        annotations: { 'dev.cosignproject.cosign/signature': Buffer.from('not a signature').toString('base64') },
      })),
    });
    await pushManifest(reg, 'team/app', `${sigFlood.digest.replace(':', '-')}.sig`, sig);
  });
  beforeEach(() => sc.reset());
  after(() => sc?.stop());

  const healthy = () => ({ id: 'healthy', body: sc.event('healthy', PAYMENTS, { 'image-digest': sc.images.signed!.digest, 'image-tag': 'v1' }) });

  for (const [name, image, tag] of [
    ['100 sigstore-bundle referrers naming one 4 MiB blob', () => bundleFlood, 'bundles'],
    ['1000 .sig layers naming one 4 MiB blob', () => sigFlood, 'sigs'],
  ] as const) {
    it(`${name}: a deny over the evidence budget, the batch's other record judged, memory bounded`, async () => {
      const heapBefore = process.memoryUsage().heapUsed;
      const res = await sc.handler()(
        sc.batch(healthy(), { id: 'hostile', body: sc.event('hostile', PAYMENTS, { 'image-digest': image().digest, 'image-tag': tag }) }),
      );
      const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
      assert.deepEqual(res.batchItemFailures, []);
      const byDigest = new Map((await sc.received('payments')).map((n) => [n.digest, n]));
      assert.equal(byDigest.get(sc.images.signed!.digest)?.verdict, 'admit');
      const n = byDigest.get(image().digest)!;
      assert.equal(n.verdict, 'deny', JSON.stringify(n).slice(0, 2000));
      assert.equal(n.error, undefined, 'a budget is a deny on the evidence, not "could not verify"');
      assert.match(JSON.stringify(n.policies), /over the verification's budget of 32 MiB and 2500 reads/);
      // Eight blobs' worth at most was parsed, not a hundred or a thousand.
      assert.ok(heapGrowth < 512 * 1024 * 1024, `heap grew by ${Math.round(heapGrowth / 1024 / 1024)} MiB`);
    });
  }
});
