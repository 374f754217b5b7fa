import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
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
  type TestRegistry,
  type TokenServer,
  yamlBlock,
} from '../support/index.ts';
import { sigwatch } from '../support/cli.ts';

/**
 * The two pull-secret examples of the Chainguard Enforce private-registry guide,
 * with a local token-auth registry standing in for the host: images anyone may
 * pull, signatures only a pull secret can read.
 */
const key = generateKeyPair();
const web = buildImage({ seed: 'web' });
const api = buildImage({ seed: 'api' });
const users = {
  admin: { password: 'admin-pw', repositories: ['*'], actions: ['pull', 'push'] },
  ci: { password: 'ci-secret-pw', repositories: ['signatures'] },
  team: { password: 'team-secret-pw', repositories: ['privatenamespace'] },
};
const secrets = mockClient(SecretsManagerClient);
const work = mkdtempSync(join(tmpdir(), 'sigwatch-pullsecrets-'));
let tokens: TokenServer;
let reg: TestRegistry;
let insecure: string[];

const b64 = (s: string) => Buffer.from(s).toString('base64');
const pullSecret = (auths: Record<string, string>) => ({
  SecretString: JSON.stringify({
    '.dockerconfigjson': JSON.stringify({ auths: Object.fromEntries(Object.entries(auths).map(([k, v]) => [k, { auth: b64(v) }])) }),
  }),
});

before(async () => {
  tokens = await startTokenServer({ users, anonymous: ['apps'] });
  reg = await startRegistry({ tokenAuth: tokens.auth, auth: { username: 'admin', password: users.admin.password } });
  insecure = [reg.host, new URL(tokens.url).host];
  const sign = (digest: string) => {
    const payload = simpleSigningPayload(`${reg.host}/apps/x`, digest);
    return legacySignatureManifest([{ payload, signature: signPayload(payload, key.privateKey) }]);
  };
  await pushManifest(reg, 'apps/web', 'v1', web);
  await pushManifest(reg, 'apps/api', 'v1', api);
  await pushManifest(reg, 'signatures/web', signatureTag(web.digest), sign(web.digest));
  await pushManifest(reg, 'privatenamespace/sigs', signatureTag(api.digest), sign(api.digest));
});
afterEach(() => secrets.reset());
after(async () => {
  secrets.restore();
  await reg?.stop();
  await tokens?.close();
  rmSync(work, { recursive: true, force: true });
});

function policy(oci: string, secret: string): string {
  const file = join(work, `${secret}.yaml`);
  const pem = yamlBlock(key.publicKeyPem);
  writeFileSync(
    file,
    `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: private-signatures}
spec:
  images: [{glob: "**"}]
  authorities:
    - key:
        data: |
${pem}
      source:
        - oci: ${oci}
          signaturePullSecrets: [{name: ${secret}}]
`,
  );
  return file;
}

const verify = (image: string, policyFile: string, ...extra: string[]) =>
  sigwatch('verify', `${reg.host}/${image}`, '--policies', policyFile, ...insecure.flatMap((h) => ['--insecure-registry', h]), '--format', 'json', ...extra);

describe('signaturePullSecrets from Secrets Manager (Enforce guide examples)', () => {
  it('registry-wide credentials (regcreds) read the signatures', async () => {
    secrets.on(GetSecretValueCommand).resolves(pullSecret({ [reg.host]: `ci:${users.ci.password}` }));
    const r = await verify('apps/web:v1', policy(`${reg.host}/signatures/web`, 'regcreds'), '--secrets-prefix', 'sigwatch/acme');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(
      secrets.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input),
      [{ SecretId: 'sigwatch/acme/regcreds' }],
    );
    assert.ok(tokens.requests.some((t) => t.username === 'ci' && t.scopes.includes('repository:signatures/web:pull')));
    assert.doesNotMatch(r.stdout + r.stderr, /ci-secret-pw/);
  });

  it('namespace-scoped credentials (privatenamespace) go only to that namespace', async () => {
    secrets.on(GetSecretValueCommand).resolves(pullSecret({ [`${reg.host}/privatenamespace`]: `team:${users.team.password}` }));
    const before = tokens.requests.length;
    const r = await verify('apps/api:v1', policy(`${reg.host}/privatenamespace/sigs`, 'privatecreds'), '--secrets-prefix', 'sigwatch/acme');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const seen = tokens.requests.slice(before);
    assert.ok(seen.some((t) => t.username === 'team' && t.scopes.includes('repository:privatenamespace/sigs:pull')));
    assert.ok(
      seen.every((t) => t.username !== 'team' || t.scopes.every((s) => s.includes('privatenamespace/'))),
      'the credential never left its namespace',
    );
  });

  it('denies when the secret is scoped to another namespace, or no store is configured', async () => {
    secrets.on(GetSecretValueCommand).resolves(pullSecret({ [`${reg.host}/othernamespace`]: `team:${users.team.password}` }));
    const scoped = await verify('apps/api:v1', policy(`${reg.host}/privatenamespace/sigs`, 'privatecreds'), '--secrets-prefix', 'sigwatch/acme');
    assert.equal(scoped.code, 1);
    assert.match(scoped.json().reasons[0]!, /access denied/);
    const unconfigured = await verify('apps/api:v1', policy(`${reg.host}/privatenamespace/sigs`, 'privatecreds'));
    assert.equal(unconfigured.code, 1);
    assert.match(unconfigured.json().reasons[0]!, /no secrets store configured/);
  });

  it('denies when Secrets Manager has no such secret, naming it', async () => {
    secrets.on(GetSecretValueCommand).rejects(Object.assign(new Error('not found'), { name: 'ResourceNotFoundException' }));
    const r = await verify('apps/web:v1', policy(`${reg.host}/signatures/web`, 'regcreds'), '--secrets-prefix', 'sigwatch/acme');
    assert.equal(r.code, 1);
    assert.match(r.json().reasons[0]!, /regcreds/);
  });
});

/** What `kubectl create secret docker-registry NAME --docker-server=… --docker-username=… --docker-password=… --dry-run=client -o yaml` prints. */
function kubectlDockerRegistrySecret(name: string, server: string, username: string, password: string): string {
  const config = JSON.stringify({ auths: { [server]: { username, password, auth: b64(`${username}:${password}`) } } });
  return `apiVersion: v1
data:
  .dockerconfigjson: ${b64(config)}
kind: Secret
metadata:
  creationTimestamp: null
  name: ${name}
type: kubernetes.io/dockerconfigjson
`;
}

function secretsFolder(name: string, files: Record<string, string>): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  return dir;
}

describe('signaturePullSecrets from a local folder of Secret manifests (--pull-secrets DIR)', () => {
  it('verifies with regcreds as kubectl --dry-run writes it, without Secrets Manager', async () => {
    // The file name is not the secret's name: policy-controller finds secrets by metadata.name.
    const dir = secretsFolder('kubectl', { 'ci-credentials.yaml': kubectlDockerRegistrySecret('regcreds', reg.host, 'ci', users.ci.password) });
    const before = tokens.requests.length;
    const r = await verify('apps/web:v1', policy(`${reg.host}/signatures/web`, 'regcreds'), '--pull-secrets', dir);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.json().verdict, 'admit');
    assert.equal(secrets.commandCalls(GetSecretValueCommand).length, 0);
    assert.ok(tokens.requests.slice(before).some((t) => t.username === 'ci' && t.scopes.includes('repository:signatures/web:pull')));
    assert.doesNotMatch(r.stdout + r.stderr, /ci-secret-pw/);
  });

  it('keeps a namespace-scoped secret to its namespace, as in Secrets Manager', async () => {
    const dir = secretsFolder('scoped', {
      'privatecreds.yaml': kubectlDockerRegistrySecret('privatecreds', `${reg.host}/othernamespace`, 'team', users.team.password),
    });
    const r = await verify('apps/api:v1', policy(`${reg.host}/privatenamespace/sigs`, 'privatecreds'), '--pull-secrets', dir);
    assert.equal(r.code, 1);
    assert.match(r.json().reasons[0]!, /access denied/);
  });

  it('denies naming the secret and the folder when no manifest has that name, or the folder is missing', async () => {
    const dir = secretsFolder('other', { 'a.yaml': kubectlDockerRegistrySecret('somethingelse', reg.host, 'ci', users.ci.password) });
    const r = await verify('apps/web:v1', policy(`${reg.host}/signatures/web`, 'regcreds'), '--pull-secrets', dir);
    assert.equal(r.code, 1);
    assert.match(
      r.json().reasons.join('\n'),
      new RegExp(`pull secret "regcreds" \\(in ${dir}\\) not found: no Secret manifest there has metadata.name "regcreds" \\(found: somethingelse\\)`),
    );
    const missing = await verify('apps/web:v1', policy(`${reg.host}/signatures/web`, 'regcreds'), '--pull-secrets', join(work, 'nope'));
    assert.equal(missing.code, 1);
    assert.match(missing.json().reasons.join('\n'), /pull secrets folder .*nope: no such folder/);
  });

  it('refuses a Secret of a type that holds no registry credentials, naming its file', async () => {
    const dir = secretsFolder('tls', {
      'tls.yaml': 'apiVersion: v1\nkind: Secret\nmetadata: {name: regcreds}\ntype: kubernetes.io/tls\ndata: {tls.crt: eA==, tls.key: eA==}\n',
    });
    const r = await verify('apps/web:v1', policy(`${reg.host}/signatures/web`, 'regcreds'), '--pull-secrets', dir);
    assert.equal(r.code, 1);
    assert.match(
      r.json().reasons.join('\n'),
      /tls\.yaml\): a Secret of type kubernetes\.io\/tls holds no registry credentials; expected kubernetes\.io\/dockerconfigjson, kubernetes\.io\/dockercfg, or an Opaque Secret with sa\.json/,
    );
  });
});
