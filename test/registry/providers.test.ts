import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ECRClient, ECRServiceException, GetAuthorizationTokenCommand, type GetAuthorizationTokenCommandOutput } from '@aws-sdk/client-ecr';
import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { SigwatchError } from '../../src/errors.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import type { Credential, CredentialLookup } from '../../src/registry/credentials.ts';
import { chainLookups, forHosts } from '../../src/registry/providers/chain.ts';
import { ECR_REFRESH_BEFORE_MS, EcrCredentialProvider, ecrRegistry } from '../../src/registry/providers/ecr.ts';
import {
  GcpFederatedCredentials,
  isGcpRegistry,
  serviceAccountKeyCredential,
  type GcpFederationOptions,
  type SignedAwsRequest,
} from '../../src/registry/providers/gcp.ts';
import { PullSecretStore, secretIdUnder } from '../../src/registry/providers/pull-secrets.ts';
import { buildImage, pushManifest, startRegistry, type TestRegistry } from '../support/index.ts';
import { startHttpServer } from '../support/http-server.ts';
import { rejectsWith, throwsWith } from '../support/assert.ts';
import { testNow } from '../support/clock.ts';

// Explicit fake credentials and region: the SDK never walks its default chain (env, files, IMDS).
const fakeAws = { region: 'us-east-1', credentials: { accessKeyId: 'AKIAEXAMPLEKEYID', secretAccessKey: 'example-secret-never-printed' } };
const b64 = (s: string) => Buffer.from(s).toString('base64');
const T0 = Date.parse('2030-01-01T00:00:00Z');
const HOUR = 3_600_000;

// ---- ECR ---------------------------------------------------------------------

describe('ECR registry host names', () => {
  it('recognises commercial, FIPS, GovCloud and China hosts', () => {
    assert.deepEqual(ecrRegistry('123456789012.dkr.ecr.eu-west-1.amazonaws.com'), { account: '123456789012', region: 'eu-west-1', fips: false });
    assert.deepEqual(ecrRegistry('123456789012.dkr.ecr-fips.us-east-1.amazonaws.com'), { account: '123456789012', region: 'us-east-1', fips: true });
    assert.deepEqual(ecrRegistry('123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com'), { account: '123456789012', region: 'us-gov-west-1', fips: true });
    assert.deepEqual(ecrRegistry('123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn'), { account: '123456789012', region: 'cn-north-1', fips: false });
    assert.deepEqual(ecrRegistry('123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn'), { account: '123456789012', region: 'cn-northwest-1', fips: false });
    // Host names are case-insensitive; what comes back is canonical.
    assert.deepEqual(ecrRegistry('123456789012.DKR.ECR.AP-SOUTHEAST-2.AMAZONAWS.COM'), { account: '123456789012', region: 'ap-southeast-2', fips: false });
  });

  it('refuses lookalikes and near misses', () => {
    for (const host of [
      '123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example',
      'evil.example.123456789012.dkr.ecr.us-east-1.amazonaws.com',
      'x123456789012.dkr.ecr.us-east-1.amazonaws.com',
      '123456789012.dkr.ecr.us-east-1.amazonaws.com:443',
      '123456789012.dkr.ecr.us-east-1.amazonaws.com.',
      '12345678901.dkr.ecr.us-east-1.amazonaws.com',
      '1234567890123.dkr.ecr.us-east-1.amazonaws.com',
      'dkr.ecr.us-east-1.amazonaws.com',
      '123456789012.dkr.ecr.us-east-1.amazonaws.co',
      '123456789012.dkr.ecr.us-east-1.amazonaws-com.example',
      '123456789012.dkr.ecr.us-east-1.amazonaws.com.cn', // a .cn host outside the China regions
      '123456789012.dkr.ecr.cn-north-1.amazonaws.com', // a China region outside .cn
      '123456789012.dkr.ecr.not_a_region.amazonaws.com',
      'public.ecr.aws',
      'amazonaws.com',
      '',
    ]) {
      assert.equal(ecrRegistry(host), undefined, host);
    }
  });
});

interface EcrHarness {
  provider: EcrCredentialProvider;
  mock: AwsClientStub<ECRClient>;
  clientForCalls: string[];
  setClock(ms: number): void;
}

/**
 * One mocked ECR client stands in for every account's client; which account
 * and region the provider asked for is recorded from clientFor, and what it
 * sent from the mock. Tokens carry the account, so a mix-up would show.
 */
function ecrHarness(answer?: (registryId: string) => Promise<GetAuthorizationTokenCommandOutput> | GetAuthorizationTokenCommandOutput): EcrHarness {
  const client = new ECRClient(fakeAws);
  const mock = mockClient(client);
  let clock = T0;
  mock.on(GetAuthorizationTokenCommand).callsFake(async (input: { registryIds?: string[] }) => {
    const id = input.registryIds?.[0] ?? 'none';
    if (answer) return answer(id);
    return tokenFor(id, `pw-${id}`, clock + 12 * HOUR);
  });
  const clientForCalls: string[] = [];
  const provider = new EcrCredentialProvider({
    clientFor: async (account, region, { fips }) => {
      clientForCalls.push(`${account} ${region}${fips ? ' fips' : ''}`);
      return client;
    },
    now: () => clock,
  });
  return { provider, mock, clientForCalls, setClock: (ms) => (clock = ms) };
}

function tokenFor(account: string, password: string, expiresAt: number): GetAuthorizationTokenCommandOutput {
  return {
    $metadata: {},
    authorizationData: [
      { authorizationToken: b64(`AWS:${password}`), expiresAt: new Date(expiresAt), proxyEndpoint: `https://${account}.dkr.ecr.eu-west-1.amazonaws.com` },
    ],
  };
}

const ECR_A = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const ECR_A_US = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const ECR_B = '222222222222.dkr.ecr.eu-west-1.amazonaws.com';
const tokenInputs = (h: EcrHarness) => h.mock.commandCalls(GetAuthorizationTokenCommand).map((c) => c.args[0].input);

describe('EcrCredentialProvider', () => {
  it('asks GetAuthorizationToken for the registry account and decodes AWS:<password>', async () => {
    const h = ecrHarness();
    assert.deepEqual(await h.provider.lookup(ECR_A, 'team/app'), { kind: 'basic', username: 'AWS', password: 'pw-111111111111' });
    assert.deepEqual(tokenInputs(h), [{ registryIds: ['111111111111'] }]);
    assert.deepEqual(h.clientForCalls, ['111111111111 eu-west-1']);
  });

  it('reuses one token for every repository of an account and region', async () => {
    const h = ecrHarness();
    for (const repo of ['team/app', 'team/other', 'another/app', 'team/app']) {
      assert.equal((await h.provider.lookup(ECR_A, repo))?.kind, 'basic');
    }
    assert.equal(tokenInputs(h).length, 1);
    assert.equal(h.clientForCalls.length, 1);
  });

  it('refreshes five minutes before expiresAt, not earlier', async () => {
    const h = ecrHarness();
    await h.provider.lookup(ECR_A, 'app');
    const refreshAt = T0 + 12 * HOUR - ECR_REFRESH_BEFORE_MS;
    h.setClock(refreshAt - 1);
    await h.provider.lookup(ECR_A, 'app');
    assert.equal(tokenInputs(h).length, 1, 'still cached just before the refresh point');
    h.setClock(refreshAt);
    await h.provider.lookup(ECR_A, 'app');
    assert.equal(tokenInputs(h).length, 2, 'fetched again at the refresh point');
    h.setClock(refreshAt + HOUR);
    await h.provider.lookup(ECR_A, 'app');
    assert.equal(tokenInputs(h).length, 2, 'the new token (12 h from its fetch) is cached again');
  });

  it('keeps tokens apart per account, per region and for the FIPS endpoint', async () => {
    const h = ecrHarness();
    const fips = '111111111111.dkr.ecr-fips.us-east-1.amazonaws.com';
    for (const host of [ECR_A, ECR_A_US, ECR_B, fips, ECR_A, ECR_A_US, ECR_B, fips]) await h.provider.lookup(host, 'app');
    assert.deepEqual(tokenInputs(h), [
      { registryIds: ['111111111111'] },
      { registryIds: ['111111111111'] },
      { registryIds: ['222222222222'] },
      { registryIds: ['111111111111'] },
    ]);
    assert.deepEqual(h.clientForCalls, ['111111111111 eu-west-1', '111111111111 us-east-1', '222222222222 eu-west-1', '111111111111 us-east-1 fips']);
    assert.deepEqual(await h.provider.lookup(ECR_B, 'x'), { kind: 'basic', username: 'AWS', password: 'pw-222222222222' });
  });

  it('shares one GetAuthorizationToken among concurrent lookups', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const h = ecrHarness(async (id) => {
      await gate;
      return tokenFor(id, 'shared', T0 + 12 * HOUR);
    });
    const lookups = ['a', 'b', 'c', 'd', 'e'].map((repo) => h.provider.lookup(ECR_A, repo));
    release();
    const credentials = await Promise.all(lookups);
    assert.ok(credentials.every((c) => c?.kind === 'basic' && c.password === 'shared'));
    assert.equal(tokenInputs(h).length, 1);
  });

  it('answers undefined for other registries without any AWS call', async () => {
    const h = ecrHarness();
    for (const host of ['ghcr.io', 'index.docker.io', `${ECR_A}.evil.example`, 'public.ecr.aws', '127.0.0.1:5000']) {
      assert.equal(await h.provider.lookup(host, 'app'), undefined, host);
    }
    assert.equal(tokenInputs(h).length, 0);
    assert.deepEqual(h.clientForCalls, []);
  });

  it('turns AccessDenied and throttling into REGISTRY_AUTH naming the host and the error only, and does not cache failures', async () => {
    let fail: string | undefined = 'AccessDeniedException';
    const h = ecrHarness((id) => {
      if (fail) {
        throw new ECRServiceException({
          name: fail,
          $fault: 'client',
          $metadata: { httpStatusCode: 400 },
          message: 'User: arn:aws:sts::111111111111:assumed-role/sigwatch/x is not authorized to perform: ecr:GetAuthorizationToken',
        });
      }
      return tokenFor(id, 'after-the-fix', T0 + 12 * HOUR);
    });
    const denied = await rejectsWith(h.provider.lookup(ECR_A, 'app'), 'REGISTRY_AUTH', `${ECR_A}: ECR GetAuthorizationToken failed (AccessDeniedException)`);
    assert.doesNotMatch(denied.message, /example-secret-never-printed|AKIAEXAMPLEKEYID/);
    fail = 'ThrottlingException';
    await rejectsWith(h.provider.lookup(ECR_A, 'app'), 'REGISTRY_AUTH', `${ECR_A}: ECR GetAuthorizationToken failed (ThrottlingException)`);
    fail = undefined;
    assert.deepEqual(await h.provider.lookup(ECR_A, 'app'), { kind: 'basic', username: 'AWS', password: 'after-the-fix' });
    assert.equal(tokenInputs(h).length, 3);
  });

  it('refuses a token that is not base64 of user:password without echoing it', async () => {
    const h = ecrHarness(() => ({ $metadata: {}, authorizationData: [{ authorizationToken: b64('no-colon-s3cret'), expiresAt: new Date(T0 + HOUR) }] }));
    const err = await rejectsWith(h.provider.lookup(ECR_A, 'app'), 'REGISTRY_AUTH', /not base64 of "user:password"/);
    assert.doesNotMatch(err.message, /s3cret/);
  });

  it('refuses an answer for another account', async () => {
    const h = ecrHarness(() => tokenFor('999999999999', 'wrong-account', T0 + HOUR));
    await rejectsWith(h.provider.lookup(ECR_A, 'app'), 'REGISTRY_AUTH', `${ECR_A}: ECR GetAuthorizationToken returned no token for account 111111111111`);
  });

  it('passes on the caller’s own error when it has no client for the account', async () => {
    const provider = new EcrCredentialProvider({
      now: testNow,
      clientFor: async (account) => {
        throw new SigwatchError('CONFIG', `account ${account} has no sigwatch association`);
      },
    });
    await rejectsWith(provider.lookup(ECR_B, 'app'), 'CONFIG', 'account 222222222222 has no sigwatch association');
  });
});

// ---- pull secrets in Secrets Manager -----------------------------------------

const PREFIX = 'sigwatch/pull-secrets/team-a';

function secretsHarness(secrets: Record<string, string>, opts: { ttlMs?: number } = {}) {
  const client = new SecretsManagerClient(fakeAws);
  const mock = mockClient(client);
  mock.on(GetSecretValueCommand).callsFake(async (input: { SecretId: string }) => {
    const value = secrets[input.SecretId];
    if (value === undefined) {
      throw new ResourceNotFoundException({ $metadata: { httpStatusCode: 400 }, message: "Secrets Manager can't find the specified secret." });
    }
    return { SecretString: value, Name: input.SecretId };
  });
  let clock = T0;
  const store = new PullSecretStore({ client, secretId: secretIdUnder(PREFIX), ttlMs: opts.ttlMs, now: () => clock });
  const ids = () => mock.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input);
  return { client, mock, store, ids, setClock: (ms: number) => (clock = ms) };
}

const dockerConfig = (auths: Record<string, [string, string]>) => ({
  auths: Object.fromEntries(Object.entries(auths).map(([k, [u, p]]) => [k, { auth: b64(`${u}:${p}`) }])),
});
/** A `kubernetes.io/dockerconfigjson` secret's data, as kept in Secrets Manager. */
const dockerConfigJsonSecret = (auths: Record<string, [string, string]>) => JSON.stringify({ '.dockerconfigjson': JSON.stringify(dockerConfig(auths)) });
/** A `kubernetes.io/dockercfg` secret's data: the auths map alone. */
const dockerCfgSecret = (auths: Record<string, [string, string]>) => JSON.stringify({ '.dockercfg': JSON.stringify(dockerConfig(auths).auths) });
const basic = (username: string, password: string): Credential => ({ kind: 'basic', username, password });

describe('PullSecretStore', () => {
  it('reads each named secret under the team prefix with the exact GetSecretValue input', async () => {
    const h = secretsHarness({
      [`${PREFIX}/regcred`]: dockerConfigJsonSecret({ 'registry.example.com': ['ci', 'ci-pw'] }),
      [`${PREFIX}/legacy`]: dockerCfgSecret({ 'old.example.com:5000': ['old', 'old-pw'] }),
    });
    const lookup = h.store.lookupFor(['regcred', 'legacy']);
    assert.deepEqual(h.ids(), [], 'nothing is read before the first lookup');
    assert.deepEqual(await lookup('registry.example.com', 'team/app'), basic('ci', 'ci-pw'));
    assert.deepEqual(await lookup('old.example.com:5000', 'x'), basic('old', 'old-pw'));
    assert.equal(await lookup('ghcr.io', 'x'), undefined);
    assert.deepEqual(h.ids(), [{ SecretId: `${PREFIX}/regcred` }, { SecretId: `${PREFIX}/legacy` }]);
  });

  it('accepts the Docker config itself, a bare auths map, and base64 data as kubectl shows it', async () => {
    const config = dockerConfig({ 'registry.example.com': ['u', 'p'] });
    const h = secretsHarness({
      [`${PREFIX}/plain`]: JSON.stringify(config),
      [`${PREFIX}/bare`]: JSON.stringify(config.auths),
      [`${PREFIX}/data`]: JSON.stringify({ '.dockerconfigjson': b64(JSON.stringify(config)) }),
    });
    for (const name of ['plain', 'bare', 'data']) {
      assert.deepEqual(await h.store.lookupFor([name])('registry.example.com', 'a'), basic('u', 'p'), name);
    }
  });

  it('scopes by namespace across secrets: longest prefix wins, and the secret named first for the same key', async () => {
    const h = secretsHarness({
      [`${PREFIX}/wide`]: dockerConfigJsonSecret({ 'registry.example.com': ['wide', 'w'], 'docker.io': ['hub-first', 'h1'] }),
      [`${PREFIX}/team-a`]: dockerConfigJsonSecret({ 'registry.example.com/team-a': ['team-a', 'a'], 'https://index.docker.io/v1/': ['hub-second', 'h2'] }),
    });
    const lookup = h.store.lookupFor(['wide', 'team-a']);
    assert.deepEqual(await lookup('registry.example.com', 'team-a/app'), basic('team-a', 'a'));
    assert.deepEqual(await lookup('registry.example.com', 'team-ab/app'), basic('wide', 'w'));
    assert.deepEqual(await lookup('registry.example.com', 'team-b/app'), basic('wide', 'w'));
    // `docker.io` and `https://index.docker.io/v1/` are one key: the first named secret's entry wins.
    assert.deepEqual(await lookup('index.docker.io', 'library/nginx'), basic('hub-first', 'h1'));
    assert.equal(h.ids().length, 2, 'each secret read once for all these lookups');
  });

  it('refuses names that could leave the prefix before any AWS call', () => {
    const h = secretsHarness({});
    for (const name of [
      '../other-team/creds',
      'other-team/creds',
      '..',
      '.',
      'a..b',
      '/abs',
      'Regcred',
      'creds/',
      '',
      'a'.repeat(254),
      'arn:aws:secretsmanager:x',
    ]) {
      throwsWith(
        () => h.store.lookupFor(['ok', name]),
        'CONFIG',
        new RegExp(`^pull secret name ${escapeRe(JSON.stringify(name))} is not a Kubernetes secret name`),
      );
    }
    assert.deepEqual(h.ids(), []);
    assert.equal(h.mock.calls().length, 0);
  });

  it('refuses team prefixes that are not plain Secrets Manager paths', () => {
    for (const prefix of ['', '/', '/team-a', 'team-a//', 'a//b', 'team-a/../team-b', 'arn:aws:secretsmanager:us-east-1:1:secret:x']) {
      throwsWith(() => secretIdUnder(prefix), 'CONFIG', /pull secret prefix .* is not a Secrets Manager name path/);
    }
    assert.equal(secretIdUnder('sigwatch/team-a')('regcred'), 'sigwatch/team-a/regcred');
    // sigwatch.yaml writes a group's prefix as a folder (secretsPrefix: sigwatch/acme/).
    assert.equal(secretIdUnder('sigwatch/acme/')('regcred'), 'sigwatch/acme/regcred');
  });

  it('reports a missing secret as CONFIG naming it', async () => {
    const h = secretsHarness({});
    await rejectsWith(h.store.lookupFor(['nope'])('registry.example.com', 'a'), 'CONFIG', `pull secret "nope" (${PREFIX}/nope) not found in Secrets Manager`);
    assert.deepEqual(h.ids(), [{ SecretId: `${PREFIX}/nope` }]);
  });

  it('reports malformed secrets as CONFIG naming the secret and the fault, never the content', async () => {
    const cases: [string, string, RegExp][] = [
      ['not-json', 'hunter2-not-json', /^pull secret "not-json" \(.*\): the value is not valid JSON$/],
      ['inner-not-json', JSON.stringify({ '.dockerconfigjson': '{"auths": hunter2' }), /"\.dockerconfigjson" is not valid JSON \(nor base64 of JSON\)$/],
      ['no-auths', JSON.stringify({ '.dockerconfigjson': JSON.stringify({ credsStore: 'hunter2' }) }), /"\.dockerconfigjson" has no "auths" object$/],
      ['wrong-shape', JSON.stringify({ username: 'u', password: 'hunter2' }), /expected a Kubernetes pull secret/],
      [
        'bad-auth',
        JSON.stringify({ auths: { 'r.example.com': { auth: b64('hunter2') } } }),
        /^pull secret "bad-auth" \(.*\): auths\["r\.example\.com"\]\.auth is not base64 of "user:password"$/,
      ],
      ['array', JSON.stringify(['hunter2']), /the value is not a JSON object$/],
    ];
    const h = secretsHarness(Object.fromEntries(cases.map(([name, value]) => [`${PREFIX}/${name}`, value])));
    for (const [name, , message] of cases) {
      const err = await rejectsWith(h.store.lookupFor([name])('r.example.com', 'a'), 'CONFIG', message);
      assert.doesNotMatch(err.message, /hunter2|aHVudGVy/, name);
    }
  });

  it('caches each secret for the TTL and shares one read among concurrent lookups', async () => {
    const h = secretsHarness({ [`${PREFIX}/regcred`]: dockerConfigJsonSecret({ 'registry.example.com': ['u', 'p'] }) }, { ttlMs: 60_000 });
    const lookup = h.store.lookupFor(['regcred']);
    await Promise.all([1, 2, 3, 4].map((i) => lookup('registry.example.com', `app${i}`)));
    assert.equal(h.ids().length, 1);
    // Another policy naming the same secret shares the store's cache.
    await h.store.lookupFor(['regcred', 'regcred'])('registry.example.com', 'x');
    h.setClock(T0 + 59_999);
    await lookup('registry.example.com', 'x');
    assert.equal(h.ids().length, 1);
    h.setClock(T0 + 60_000);
    await lookup('registry.example.com', 'x');
    assert.equal(h.ids().length, 2);
  });

  it('names no secret for an authority without pull secrets', async () => {
    const h = secretsHarness({});
    assert.equal(await h.store.lookupFor([])('registry.example.com', 'a'), undefined);
    assert.equal(h.mock.calls().length, 0);
  });
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---- GCR / Artifact Registry ---------------------------------------------------

const saKey = JSON.stringify(
  {
    type: 'service_account',
    project_id: 'acme',
    private_key_id: 'abc',
    private_key: '-----BEGIN PRIVATE KEY-----\nTESTKEY-hunter2\n-----END PRIVATE KEY-----\n',
    client_email: 'puller@acme.iam.gserviceaccount.com',
  },
  null,
  2,
);

describe('GCP registry hosts', () => {
  it('recognises gcr.io, its regional hosts and Artifact Registry', () => {
    for (const host of ['gcr.io', 'eu.gcr.io', 'us.gcr.io', 'asia.gcr.io', 'europe-west1-docker.pkg.dev', 'us-docker.pkg.dev', 'GCR.IO']) {
      assert.equal(isGcpRegistry(host), true, host);
    }
    for (const host of [
      'gcr.io.evil.example',
      'evilgcr.io',
      'a.b.gcr.io',
      'docker.pkg.dev',
      'europe-west1-docker.pkg.dev.evil.example',
      'europe-west1-maven.pkg.dev',
      'gcr.io:443',
    ]) {
      assert.equal(isGcpRegistry(host), false, host);
    }
  });
});

describe('GCP service account key', () => {
  it('is the Basic credential _json_key with the key file as password', () => {
    assert.deepEqual(serviceAccountKeyCredential(saKey, 'key'), basic('_json_key', saKey));
    // KubeClarity's gcr-sa secret keeps the file under sa.json.
    assert.deepEqual(serviceAccountKeyCredential(JSON.stringify({ 'sa.json': saKey }), 'key'), basic('_json_key', saKey));
  });

  it('refuses what is not a service account key, without echoing it', () => {
    const bad: [string, RegExp][] = [
      ['hunter2', /^gcr-sa: not valid JSON$/],
      [JSON.stringify({ type: 'authorized_user', refresh_token: 'hunter2' }), /not a service account key/],
      [JSON.stringify({ type: 'service_account', private_key: 'hunter2' }), /service account key has no "client_email"$/],
      [JSON.stringify({ 'sa.json': 'hunter2' }), /^gcr-sa: "sa\.json": not valid JSON$/],
    ];
    for (const [text, message] of bad) {
      const err = throwsWith(() => serviceAccountKeyCredential(text, 'gcr-sa'), 'CONFIG', message);
      assert.doesNotMatch(err.message, /hunter2/);
    }
  });

  it('is a pull secret (gcr-sa) read from Secrets Manager once per TTL, offered to GCP hosts only', async () => {
    const h = secretsHarness({
      [`${PREFIX}/gcr-sa`]: JSON.stringify({ 'sa.json': saKey }),
      [`${PREFIX}/regcred`]: dockerConfigJsonSecret({ 'europe-west1-docker.pkg.dev/acme/ci': ['ci', 'ci-pw'] }),
    });
    const lookup = h.store.lookupFor(['gcr-sa']);
    assert.equal(await lookup('ghcr.io', 'a'), undefined);
    assert.equal(await lookup('127.0.0.1:5000', 'a'), undefined);
    assert.deepEqual(await lookup('europe-west1-docker.pkg.dev', 'acme/repo/app'), basic('_json_key', saKey));
    assert.deepEqual(await lookup('gcr.io', 'acme/app'), basic('_json_key', saKey));
    assert.deepEqual(h.ids(), [{ SecretId: `${PREFIX}/gcr-sa` }]);
    // Named with a Docker pull secret, the key answers only where no auths entry does.
    const both = h.store.lookupFor(['gcr-sa', 'regcred']);
    assert.deepEqual(await both('europe-west1-docker.pkg.dev', 'acme/ci/sigs'), basic('ci', 'ci-pw'));
    assert.deepEqual(await both('europe-west1-docker.pkg.dev', 'acme/repo/app'), basic('_json_key', saKey));
  });

  it('refuses a broken gcr-sa secret naming it, never its content', async () => {
    const h = secretsHarness({ [`${PREFIX}/gcr-sa`]: JSON.stringify({ 'sa.json': JSON.stringify({ type: 'service_account', private_key: 'hunter2' }) }) });
    const err = await rejectsWith(
      h.store.lookupFor(['gcr-sa'])('gcr.io', 'acme/app'),
      'CONFIG',
      `pull secret "gcr-sa" (${PREFIX}/gcr-sa): service account key has no "client_email"`,
    );
    assert.doesNotMatch(err.message, /hunter2/);
  });
});

const AUDIENCE = '//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/aws-pool/providers/sigwatch';
const SA = 'sigwatch-reader@acme.iam.gserviceaccount.com';

/** What a SigV4 signer hands over: fixed values here, since signing is not this module's job. */
const signedRequest = (audience: string): SignedAwsRequest => ({
  url: 'https://sts.eu-west-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15',
  method: 'POST',
  headers: {
    Authorization:
      'AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEKEYID/20300101/eu-west-1/sts/aws4_request, SignedHeaders=host;x-amz-date;x-goog-cloud-target-resource, Signature=sig-hunter2',
    host: 'sts.eu-west-1.amazonaws.com',
    'x-amz-date': '20300101T000000Z',
    'x-goog-cloud-target-resource': audience,
    'x-amz-security-token': 'session-hunter2',
  },
});

interface Recorded {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

describe('GCP workload identity federation from AWS', () => {
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  const recorded: Recorded[] = [];
  let respond: (r: Recorded, res: ServerResponse) => void;

  before(async () => {
    server = await startHttpServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        const r = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
        recorded.push(r);
        respond(r, res);
      });
    });
  });
  after(() => server?.close());

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  /** STS answers with a federated token, IAM Credentials with the service account's token. */
  const google =
    (opts: { stsStatus?: number } = {}) =>
    (r: Recorded, res: ServerResponse) => {
      if (r.path === '/v1/token') {
        if (opts.stsStatus) return json(res, opts.stsStatus, { error: 'invalid_grant', error_description: 'subject session-hunter2 rejected' });
        return json(res, 200, {
          access_token: `federated-${recorded.length}`,
          issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          token_type: 'Bearer',
          expires_in: 3600,
        });
      }
      if (r.path === `/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`) {
        return json(res, 200, { accessToken: `sa-token-${recorded.length}`, expireTime: new Date(clock + HOUR).toISOString() });
      }
      json(res, 404, { error: { status: 'NOT_FOUND' } });
    };
  let clock = T0;
  const federation = (opts: Partial<GcpFederationOptions> = {}) =>
    new GcpFederatedCredentials({
      audience: AUDIENCE,
      signCallerIdentity: async (audience) => signedRequest(audience),
      tokenUrl: `${server.url}/v1/token`,
      iamCredentialsUrl: server.url,
      insecureHosts: [server.host],
      http: { backoffMs: 1 },
      now: () => clock,
      ...opts,
    });

  it('exchanges the signed GetCallerIdentity request at STS with the exact form fields', async () => {
    recorded.length = 0;
    clock = T0;
    respond = google();
    const gcp = federation();
    assert.deepEqual(await gcp.lookup('europe-west1-docker.pkg.dev', 'acme/repo/app'), basic('oauth2accesstoken', 'federated-1'));
    assert.equal(recorded.length, 1);
    const [sts] = recorded as [Recorded];
    assert.equal(sts.method, 'POST');
    assert.equal(sts.headers['content-type'], 'application/x-www-form-urlencoded');
    const form = Object.fromEntries(new URLSearchParams(sts.body));
    const expectedSubject = {
      url: 'https://sts.eu-west-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15',
      method: 'POST',
      headers: Object.entries(signedRequest(AUDIENCE).headers).map(([key, value]) => ({ key, value })),
    };
    assert.deepEqual(form, {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      audience: AUDIENCE,
      scope: 'https://www.googleapis.com/auth/cloud-platform',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      subject_token: encodeURIComponent(JSON.stringify(expectedSubject)),
      subject_token_type: 'urn:ietf:params:aws:token-type:aws4_request',
    });
    assert.deepEqual(JSON.parse(decodeURIComponent(form.subject_token!)), expectedSubject);
  });

  it('impersonates the service account with the federated token, caches until 5 minutes before expiry, and shares one exchange', async () => {
    recorded.length = 0;
    clock = T0;
    respond = google();
    const gcp = federation({ serviceAccount: SA });
    const all = await Promise.all(['gcr.io', 'eu.gcr.io', 'us-docker.pkg.dev'].map((h) => gcp.lookup(h, 'acme/app')));
    assert.deepEqual(
      all,
      [1, 2, 3].map(() => basic('oauth2accesstoken', 'sa-token-2')),
    );
    assert.deepEqual(
      recorded.map((r) => `${r.method} ${r.path}`),
      ['POST /v1/token', `POST /v1/projects/-/serviceAccounts/${SA}:generateAccessToken`],
    );
    const iam = recorded[1]!;
    assert.equal(iam.headers.authorization, 'Bearer federated-1');
    assert.equal(iam.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(iam.body), { scope: ['https://www.googleapis.com/auth/cloud-platform'] });
    assert.deepEqual(Object.fromEntries(gcp.http.counter.byKind), { 'gcp-sts': 1, 'gcp-iam': 1 });

    clock = T0 + HOUR - 5 * 60_000 - 1;
    await gcp.lookup('gcr.io', 'acme/app');
    assert.equal(recorded.length, 2, 'cached until 5 minutes before expireTime');
    clock = T0 + HOUR - 5 * 60_000;
    assert.deepEqual(await gcp.lookup('gcr.io', 'acme/app'), basic('oauth2accesstoken', 'sa-token-4'));
    assert.equal(recorded.length, 4);
  });

  it('asks nothing for non-GCP registries', async () => {
    recorded.length = 0;
    respond = google();
    let signed = 0;
    const gcp = federation({ signCallerIdentity: async (a) => (signed++, signedRequest(a)) });
    assert.equal(await gcp.lookup('gcr.io.evil.example', 'a'), undefined);
    assert.equal(await gcp.lookup('ghcr.io', 'a'), undefined);
    assert.equal(recorded.length, 0);
    assert.equal(signed, 0);
  });

  it('reports a refused exchange as REGISTRY_AUTH with the status and OAuth error, not the description or the signed request', async () => {
    recorded.length = 0;
    respond = google({ stsStatus: 400 });
    const err = await rejectsWith(
      federation().lookup('gcr.io', 'a'),
      'REGISTRY_AUTH',
      `GCP STS ${server.host}/v1/token: token exchange for ${AUDIENCE} failed (HTTP 400 invalid_grant)`,
    );
    assert.doesNotMatch(err.message, /hunter2|AKIA/);
    // Impersonation refused: Google's error status is named, its message (which names resources) is not.
    respond = (r, res) =>
      r.path === '/v1/token'
        ? google()(r, res)
        : json(res, 403, { error: { code: 403, message: 'Permission iam.serviceAccounts.getAccessToken denied on hunter2', status: 'PERMISSION_DENIED' } });
    const denied = await rejectsWith(
      federation({ serviceAccount: SA }).lookup('gcr.io', 'a'),
      'REGISTRY_AUTH',
      `GCP IAM generateAccessToken for ${SA} failed (HTTP 403 PERMISSION_DENIED)`,
    );
    assert.doesNotMatch(denied.message, /hunter2|federated-/);
  });

  it('checks its configuration and the signed request before sending anything', async () => {
    recorded.length = 0;
    throwsWith(() => federation({ audience: 'projects/1/pools/x' }), 'CONFIG', /is not a workload identity pool provider/);
    throwsWith(() => federation({ serviceAccount: 'x/../y' }), 'CONFIG', /is not a service account email/);
    throwsWith(() => federation({ insecureHosts: [] }), 'CONFIG', `GCP STS token URL ${server.host}/v1/token is not https and not named insecure`);
    const wrongTarget = federation({ signCallerIdentity: async () => signedRequest(AUDIENCE.replace('sigwatch', 'other')) });
    await rejectsWith(wrongTarget.lookup('gcr.io', 'a'), 'CONFIG', /names another x-goog-cloud-target-resource than the audience/);
    const unsigned = federation({
      signCallerIdentity: async (a) => {
        const r = signedRequest(a);
        delete r.headers.Authorization;
        return r;
      },
    });
    await rejectsWith(unsigned.lookup('gcr.io', 'a'), 'CONFIG', 'GCP federation: the signed AWS request lacks the authorization header');
    // The SDK's default chain found nothing to sign with: said as such, not as a failed signature.
    const noCredentials = federation({
      signCallerIdentity: async () =>
        Promise.reject(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' })),
    });
    await rejectsWith(
      noCredentials.lookup('gcr.io', 'a'),
      'REGISTRY_AUTH',
      'GCP federation: no AWS credentials found to sign the GetCallerIdentity request Google checks',
    );
    assert.equal(recorded.length, 0);
  });
});

// ---- chains ----------------------------------------------------------------------

describe('chainLookups and forHosts', () => {
  const fixed =
    (c: Credential | undefined, calls: string[], name: string): CredentialLookup =>
    async (registry) => {
      calls.push(`${name} ${registry}`);
      return c;
    };

  it('returns the first defined credential and asks no further', async () => {
    const calls: string[] = [];
    const lookup = chainLookups(fixed(undefined, calls, 'secrets'), fixed(basic('a', '1'), calls, 'ecr'), fixed(basic('b', '2'), calls, 'config'));
    assert.deepEqual(await lookup('r.example.com', 'app'), basic('a', '1'));
    assert.deepEqual(calls, ['secrets r.example.com', 'ecr r.example.com']);
    assert.equal(await chainLookups()('r.example.com', 'app'), undefined);
  });

  it('stops at a failing provider rather than falling through to another credential', async () => {
    const calls: string[] = [];
    const failing: CredentialLookup = async () => {
      throw new SigwatchError('CONFIG', 'pull secret "x" not found');
    };
    await rejectsWith(chainLookups(failing, fixed(basic('b', '2'), calls, 'config'))('r', 'a'), 'CONFIG', 'pull secret "x" not found');
    assert.deepEqual(calls, []);
  });

  it('forHosts asks its lookup only for matching hosts', async () => {
    const calls: string[] = [];
    const lookup = forHosts((h) => h === 'r.example.com', fixed(basic('a', '1'), calls, 'inner'));
    assert.equal(await lookup('other.example.com', 'app'), undefined);
    assert.deepEqual(await lookup('r.example.com', 'app'), basic('a', '1'));
    assert.deepEqual(calls, ['inner r.example.com']);
  });
});

// ---- end to end: an ECR token pulled through RegistryClient ----------------------

/**
 * docker-registry with htpasswd user `AWS` stands in for an ECR registry. It
 * cannot answer at an ECR host name, so the chain maps its 127.0.0.1 address
 * to the ECR host it plays and calls the provider's real lookup with that
 * name: host parsing, GetAuthorizationToken (mocked), token decoding and
 * caching are the production path; only the host the bytes go to differs.
 * A registry at the ECR name would reach AWS, which tests must never do.
 */
describe('ECR provider through RegistryClient (docker-registry with htpasswd)', () => {
  const ECR_HOST = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
  const password = 'ecr-token-password-not-in-errors';
  const image = buildImage({ seed: 'ecr-provider' });
  let registry: TestRegistry;

  before(async () => {
    registry = await startRegistry({ auth: { username: 'AWS', password } });
    await pushManifest(registry, 'team/app', 'v1', image);
  });
  after(() => registry?.stop());

  const wire = (tokenPassword: string) => {
    const h = ecrHarness((id) => tokenFor(id, tokenPassword, T0 + 12 * HOUR));
    const credentials = chainLookups(
      forHosts(
        (host) => host === registry.host,
        (_host, repository) => h.provider.lookup(ECR_HOST, repository),
      ),
    );
    const client = new RegistryClient({ now: testNow, credentials, insecureHosts: [registry.host], backoffMs: 1 });
    return { h, client, repo: client.repository({ registry: registry.host, repository: 'team/app' }) };
  };

  it('pulls with the password GetAuthorizationToken returned, asking ECR once', async () => {
    const { h, client, repo } = wire(password);
    assert.equal(await repo.resolve('v1'), image.digest);
    const manifest = await repo.getManifest(image.digest);
    assert.equal(manifest?.digest, image.digest);
    assert.equal(await client.repository({ registry: registry.host, repository: 'team/other' }).getManifest('v1'), undefined);
    assert.deepEqual(tokenInputs(h), [{ registryIds: ['123456789012'] }]);
    assert.deepEqual(h.clientForCalls, ['123456789012 eu-west-1']);
    // The first request learns the Basic challenge (401, then again with the credential); later ones go straight through.
    assert.deepEqual(Object.fromEntries(client.http.counter.byKind), { 'manifest-head': 2, manifest: 2 });
  });

  it('is denied with REGISTRY_AUTH when ECR’s password is not the registry’s, without the password in the error', async () => {
    const { repo } = wire('stale-password-hunter2');
    const err = await rejectsWith(repo.getManifest(image.digest), 'REGISTRY_AUTH', /access denied with the configured credentials \(HTTP 401\)/);
    assert.doesNotMatch(err.message, /hunter2|stale-password/);
  });
});
