import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import type { Notification } from '../../src/notify/notification.ts';
import { CentralVerifier } from '../../src/pipeline/central.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { readConfig } from '../../src/store/config-object.ts';
import { folderPrefixReader } from '../../src/store/folder.ts';
import { GroupPolicies } from '../../src/store/group-policies.ts';
import {
  buildImage,
  generateKeyPair,
  legacySignatureManifest,
  pushManifest,
  signatureTag,
  signPayload,
  simpleSigningPayload,
  startRegistry,
  startTokenServer,
  yamlBlock,
  type TestRegistry,
  type TokenServer,
} from '../support/index.ts';
import { sigwatch } from '../support/cli.ts';
import { testNow } from '../support/clock.ts';
import { ecrImageAction, PAYMENTS } from '../support/events.ts';
import { AWS_EXAMPLE_ACCESS_KEY_ID, AWS_EXAMPLE_SECRET_KEY, CI_SECRET_PASSWORD, GCR_SA_PRIVATE_KEY } from '../support/secrets.ts';

/**
 * `sigwatch invoke --config` on the real sigwatch.yaml (the acme fixture of
 * docs/accounts.md) with a `local:` section: the event's account decides the
 * group, its policies (policies/<group>/ in a folder laid out as the config
 * bucket), its pull secrets (the group's secretsPrefix as a folder) and the
 * topic its verdict goes to.
 */
const ACME = new URL('../fixtures/accounts/acme.yaml', import.meta.url).pathname;
const ECR_HOST = `${PAYMENTS}.dkr.ecr.eu-west-1.amazonaws.com`;
const RETAIL = '444455556666';
const GAR_HOST = 'europe-docker.pkg.dev';
const key = generateKeyPair();
const app = buildImage({ seed: 'acme-app' });
const unsigned = buildImage({ seed: 'acme-unsigned' });
/** A service account key file as `gcloud iam service-accounts keys create` writes it. */
const saJson = JSON.stringify(
  {
    type: 'service_account',
    project_id: 'acme-sigs',
    private_key_id: '0123abcd',
    private_key: `-----BEGIN PRIVATE KEY-----\n${GCR_SA_PRIVATE_KEY}\n-----END PRIVATE KEY-----\n`,
    client_email: 'sigwatch-puller@acme-sigs.iam.gserviceaccount.com',
    client_id: '1234567890',
    token_uri: 'https://oauth2.googleapis.com/token',
  },
  null,
  2,
);
const b64 = (s: string) => Buffer.from(s).toString('base64');

let images: TestRegistry;
let gar: TestRegistry;
let tokens: TokenServer;
let work: string;

/** Notifications printed with their topic (`{topicArn, notification}`), one JSON document after another. */
function published(stdout: string): { topicArn: string; notification: Notification }[] {
  return stdout
    .split(/\n(?=\{)/)
    .filter((c) => c.trim())
    .map((c) => JSON.parse(c) as { topicArn: string; notification: Notification });
}

function write(path: string, text: string): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
}

before(async () => {
  images = await startRegistry();
  // Artifact Registry's token service takes user _json_key with the key file itself as the password.
  tokens = await startTokenServer({
    users: {
      admin: { password: 'admin-pw', repositories: ['*'], actions: ['pull', 'push'] },
      _json_key: { password: saJson, repositories: ['acme-sigs'] },
      ci: { password: CI_SECRET_PASSWORD, repositories: ['acme-sigs'] },
    },
  });
  gar = await startRegistry({ tokenAuth: tokens.auth, auth: { username: 'admin', password: 'admin-pw' } });
  await pushManifest(images, 'team/app', 'v1', app);
  await pushManifest(images, 'team/app', 'v2', unsigned);
  const payload = simpleSigningPayload(`${ECR_HOST}/team/app`, app.digest);
  await pushManifest(
    gar,
    'acme-sigs/signatures/app',
    signatureTag(app.digest),
    legacySignatureManifest([{ payload, signature: signPayload(payload, key.privateKey) }]),
  );

  work = mkdtempSync(join(tmpdir(), 'sigwatch-invoke-acme-'));
  // The config bucket's layout: policies/acme/ applies to every acme group.
  write(
    join(work, 'bucket/policies/acme/signatures-in-gar.yaml'),
    `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: signatures-in-gar}
spec:
  images: [{glob: "${ECR_HOST.replace(PAYMENTS, '*')}/**"}, {glob: "${RETAIL}.dkr.ecr.eu-west-1.amazonaws.com/**"}]
  authorities:
    - key:
        data: |
${yamlBlock(key.publicKeyPem)}
      source:
        - oci: ${GAR_HOST}/acme-sigs/signatures/app
          signaturePullSecrets: [{name: gcr-sa}]
`,
  );
  // KubeClarity's gcr-sa: an Opaque Secret holding the key file as sa.json, in acme's folder (secretsPrefix sigwatch/acme/).
  write(
    join(work, 'pull-secrets/sigwatch/acme/gcr-sa.yaml'),
    `apiVersion: v1\nkind: Secret\nmetadata:\n  name: gcr-sa\n  namespace: kubeclarity\ntype: Opaque\ndata:\n  sa.json: ${b64(saJson)}\n`,
  );
});
after(async () => {
  await images?.stop();
  await gar?.stop();
  await tokens?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The acme fixture as it is, with the local section an operator adds to replay events here. */
function acmeWithLocal(name: string, local: string): string {
  return write(join(work, name), `${readFileSync(ACME, 'utf8')}\nlocal:\n${local}`);
}

const localSection = (extra = '') => `  bucket: ./bucket
  pullSecrets: ./pull-secrets
  registries:
    mirror: {"${ECR_HOST}": "${images.host}", "${RETAIL}.dkr.ecr.eu-west-1.amazonaws.com": "${images.host}", "${GAR_HOST}": "${gar.host}"}
    insecure: ["${images.host}", "${gar.host}", "${new URL(tokens.url).host}"]
${extra}`;

const event = (name: string, digest: string, account = PAYMENTS) => {
  const e = { ...ecrImageAction(name, { 'image-digest': digest, 'image-tag': 'v1' }), account };
  return write(join(work, `${name}.json`), JSON.stringify(e));
};

describe('sigwatch invoke --config sigwatch.yaml (the acme fixture)', () => {
  it('sends the verdict to the owning team’s topic, with signatures read through the gcr-sa pull secret', async () => {
    const config = acmeWithLocal('acme.yaml', localSection());
    const before = tokens.requests.length;
    const r = await sigwatch('invoke', event('signed', app.digest), '--config', config);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const [out, ...rest] = published(r.stdout);
    assert.equal(rest.length, 0);
    // 111122223333 is associated with acme/payments: team payments, its own topic.
    assert.equal(out!.topicArn, 'arn:aws:sns:eu-west-1:999999999999:sigwatch-payments');
    assert.equal(out!.notification.team, 'payments');
    assert.equal(out!.notification.verdict, 'admit');
    assert.deepEqual(
      out!.notification.policies.map((p) => [p.name, p.verdict]),
      [['signatures-in-gar', 'pass']],
    );
    // The signature came from the Artifact Registry stand-in, with the service account key as _json_key.
    const seen = tokens.requests.slice(before);
    assert.ok(
      seen.some((t) => t.username === '_json_key' && t.status === 200 && t.scopes.includes('repository:acme-sigs/signatures/app:pull')),
      JSON.stringify(seen),
    );
    assert.match(r.stderr, /sigwatch invoke: 1 verdict \(1 admit, 0 warn, 0 deny\)/);
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(GCR_SA_PRIVATE_KEY));
  });

  it('prints the topic in the line format too, and denies an unsigned image to the same team', async () => {
    const config = acmeWithLocal('acme-line.yaml', localSection('  notifier: {format: line}\n'));
    const r = await sigwatch('invoke', event('unsigned', unsigned.digest), '--config', config);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stdout.trim(),
      /^DENY 111122223333\.dkr\.ecr\.eu-west-1\.amazonaws\.com\/team\/app@sha256:[0-9a-f]{64} team=payments policies=signatures-in-gar:fail trigger=push reason=".*" topic=arn:aws:sns:eu-west-1:999999999999:sigwatch-payments$/,
    );
  });

  it('keeps a team to its own pull secrets: retail (secretsPrefix sigwatch/retail/) cannot use acme’s gcr-sa', async () => {
    write(
      join(work, 'pull-secrets/sigwatch/retail/other.yaml'),
      'apiVersion: v1\nkind: Secret\nmetadata: {name: retail-creds}\ntype: kubernetes.io/dockerconfigjson\nstringData: {.dockerconfigjson: \'{"auths": {}}\'}\n',
    );
    const config = acmeWithLocal('acme-retail.yaml', localSection());
    const r = await sigwatch('invoke', event('retail', app.digest, RETAIL), '--config', config);
    assert.equal(r.code, 1, r.stderr);
    const [out] = published(r.stdout);
    // acme/retail has no topicArn of its own: it inherits acme's; team retail.
    assert.equal(out!.topicArn, 'arn:aws:sns:eu-west-1:999999999999:sigwatch-platform');
    assert.equal(out!.notification.team, 'retail');
    assert.equal(out!.notification.verdict, 'deny');
    assert.match(
      JSON.stringify(out!.notification.reasons),
      /pull secret \\"gcr-sa\\" \(in [^)]*pull-secrets\/sigwatch\/retail\) not found: no Secret manifest there has metadata.name \\"gcr-sa\\" \(found: retail-creds\)/,
    );
  });

  it('reports an image of no association to the operators, exit 1', async () => {
    const config = acmeWithLocal('acme-stranger.yaml', localSection());
    const r = await sigwatch('invoke', event('stranger', app.digest, '777788889999'), '--config', config);
    assert.equal(r.code, 1, r.stderr);
    const [out] = published(r.stdout);
    assert.equal(out!.topicArn, 'arn:aws:sns:eu-west-1:999999999999:sigwatch-operators');
    assert.equal(out!.notification.verdict, 'error');
  });

  it('is a configuration error (exit 2) when the bucket folder holds no policies, or the local section has an unknown field', async () => {
    const empty = acmeWithLocal('acme-empty.yaml', localSection().replace('./bucket', './nothing-here'));
    const r = await sigwatch('invoke', event('empty', app.digest), '--config', empty);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /sigwatch: no policies in .*nothing-here under any group's policyPrefix \(policies\/acme\/, policies\/acme\/payments\/, policies\/acme\/payments\/api\/, policies\/acme\/retail\/\); give --bucket DIR, the folder laid out as the config bucket/,
    );
    const typo = acmeWithLocal('acme-typo.yaml', '  policies: ./bucket\n');
    const t = await sigwatch('invoke', event('typo', app.digest), '--config', typo);
    assert.equal(t.code, 2);
    assert.match(t.stderr, /local\.policies: unknown field \(expected bucket, registries, pullSecrets, notifier\)/);
  });

  it('reads regcreds as kubectl --dry-run writes it from the group’s folder (--pull-secrets overrides the config)', async () => {
    const dir = join(work, 'other-secrets');
    const config = JSON.stringify({ auths: { [gar.host]: { username: 'ci', password: CI_SECRET_PASSWORD, auth: b64(`ci:${CI_SECRET_PASSWORD}`) } } });
    write(
      join(dir, 'sigwatch/acme/regcreds.yaml'),
      `apiVersion: v1\ndata:\n  .dockerconfigjson: ${b64(config)}\nkind: Secret\nmetadata:\n  creationTimestamp: null\n  name: regcreds\ntype: kubernetes.io/dockerconfigjson\n`,
    );
    // Same as the gcr-sa policy, but the secret is a Docker one for the host contacted.
    write(
      join(work, 'bucket-regcreds/policies/acme/p.yaml'),
      readFileSync(join(work, 'bucket/policies/acme/signatures-in-gar.yaml'), 'utf8').replace('gcr-sa', 'regcreds').replace(`${GAR_HOST}/`, `${gar.host}/`),
    );
    const before = tokens.requests.length;
    const config2 = acmeWithLocal('acme-regcreds.yaml', localSection());
    const r = await sigwatch('invoke', event('regcreds', app.digest), '--config', config2, '--pull-secrets', dir, '--bucket', join(work, 'bucket-regcreds'));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(published(r.stdout)[0]!.notification.verdict, 'admit');
    assert.ok(tokens.requests.slice(before).some((t) => t.username === 'ci' && t.status === 200));
    assert.doesNotMatch(r.stdout + r.stderr, /ci-secret-pw/);
  });
});

describe('gcr-sa in Secrets Manager (the deployed functions’ path)', () => {
  it('verifies through the group’s secret sigwatch/acme/gcr-sa, as the central verifier reads it', async () => {
    const client = new SecretsManagerClient({
      region: 'eu-west-1',
      credentials: { accessKeyId: AWS_EXAMPLE_ACCESS_KEY_ID, secretAccessKey: AWS_EXAMPLE_SECRET_KEY },
    });
    const sm = mockClient(client);
    sm.on(GetSecretValueCommand, { SecretId: 'sigwatch/acme/gcr-sa' }).resolves({ SecretString: JSON.stringify({ 'sa.json': saJson }) });
    const loaded = readConfig(readFileSync(ACME, 'utf8'), ACME, {});
    const mirror: Record<string, string> = { [ECR_HOST]: images.host, [GAR_HOST]: gar.host };
    const verifier = new CentralVerifier({
      config: { load: async () => loaded },
      policies: new GroupPolicies(folderPrefixReader(join(work, 'bucket'))),
      registry: new RegistryClient({ now: testNow, insecureHosts: [images.host, gar.host, new URL(tokens.url).host] }),
      endpoint: (host) => mirror[host] ?? host,
      secrets: client,
      now: testNow,
    });
    const batch = await verifier.beginBatch();
    const before = tokens.requests.length;
    const result = await batch.check({
      account: PAYMENTS,
      region: 'eu-west-1',
      registry: ECR_HOST,
      repository: 'team/app',
      digest: app.digest,
      tags: ['v1'],
    });
    assert.equal(result.kind, 'verdict');
    assert.equal(result.kind === 'verdict' && result.verdict.verdict, 'admit', JSON.stringify(result));
    assert.deepEqual(
      sm.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input),
      [{ SecretId: 'sigwatch/acme/gcr-sa' }],
    );
    assert.ok(tokens.requests.slice(before).some((t) => t.username === '_json_key' && t.status === 200));
  });
});
