import assert from 'node:assert/strict';
import { TEST_EPOCH, testNow } from '../support/clock.ts';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { DescribeRepositoriesCommand, ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { checkTargets } from '../../src/accounts/check.ts';
import { parseConfig } from '../../src/accounts/config.ts';
import { associationsCommand } from '../../src/cli/associations.ts';
import { run } from '../../src/cli/main.ts';
import { throwsWith } from '../support/assert.ts';
import { startFakeGoogle, type FakeGoogle } from '../support/fake-google.ts';
import { startHttpServer } from '../support/http-server.ts';
import {
  assertNoSecrets as assertNoTestSecrets,
  AWS_EXAMPLE_SECRET_KEY,
  AWS_GCP_SIGNER_ACCESS_KEY_ID,
  AWS_GCP_SIGNER_SECRET_KEY,
  AWS_GCP_SIGNER_SESSION_TOKEN,
  AWS_GCP_WRONG_SECRET_KEY,
  ECR_TOKEN_A,
  EXTERNAL_ID,
  GCP_FEDERATED_TOKEN,
  GCP_SA_TOKEN,
  STS_SESSION_TOKEN_PREFIX,
} from '../support/secrets.ts';

const ACME = new URL('../fixtures/accounts/acme.yaml', import.meta.url).pathname;
const PAYMENTS_SECRET = 'arn:aws:secretsmanager:eu-west-1:999999999999:secret:sigwatch/external-id/payments-AbCdEf';

// acme.yaml (role sigwatch-reader, 1800-second sessions): acme/payments has 111122223333 (eu-west-1, eu-central-1) and
// 012345678901 (us-east-1, its own roleArn); acme/payments/api has 222233334444.
const OK_ACCOUNT = '111122223333';
const DENIED_ACCOUNT = '012345678901';
const NO_ECR_ACCOUNT = '222233334444';
const ROLES: Record<string, string> = {
  [OK_ACCOUNT]: `arn:aws:iam::${OK_ACCOUNT}:role/sigwatch-reader`,
  [DENIED_ACCOUNT]: `arn:aws:iam::${DENIED_ACCOUNT}:role/platform/sigwatch-payments`,
  [NO_ECR_ACCOUNT]: `arn:aws:iam::${NO_ECR_ACCOUNT}:role/sigwatch-reader`,
};

/** The session STS hands out for an account: recognisable, and its secret parts on the leak guard's list. */
const sessionFor = (account: string) => ({
  AccessKeyId: `ASIA${account}`,
  SecretAccessKey: AWS_EXAMPLE_SECRET_KEY,
  SessionToken: `${STS_SESSION_TOKEN_PREFIX}:iam::${account}:role`,
  Expiration: new Date(TEST_EPOCH + 900_000),
});
const accountOfKey = (accessKeyId: string) => accessKeyId.replace(/^ASIA/, '');

function awsError(name: string, status: number, message: string) {
  // Services quote what they refuse: the message must never reach the output.
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: status, requestId: `req-${name}` } });
}

const sts = mockClient(STSClient);
const ecr = mockClient(ECRClient);
const secrets = mockClient(SecretsManagerClient);

interface ClientLike {
  config: { credentials: () => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }>; region: () => Promise<string> };
}
const credentialsOf = async (client: unknown) => (client as ClientLike).config.credentials();
const regionOf = async (client: unknown) => (client as ClientLike).config.region();

beforeEach(() => {
  secrets.on(GetSecretValueCommand, { SecretId: PAYMENTS_SECRET }).resolves({ SecretString: EXTERNAL_ID });
  sts.on(AssumeRoleCommand).callsFake((input: { RoleArn: string }) => {
    const account = input.RoleArn.split(':')[4]!;
    if (account === DENIED_ACCOUNT) throw awsError('AccessDenied', 403, `User is not authorized to perform sts:AssumeRole with ExternalId ${EXTERNAL_ID}`);
    return { Credentials: sessionFor(account), AssumedRoleUser: { Arn: `arn:aws:sts::${account}:assumed-role/x/sigwatch-verify`, AssumedRoleId: 'AROA:x' } };
  });
  sts.on(GetCallerIdentityCommand).callsFake(async (_input: unknown, getClient: () => unknown) => {
    const account = accountOfKey((await credentialsOf(getClient())).accessKeyId);
    const role = ROLES[account]!.split('/').at(-1);
    return { Account: account, Arn: `arn:aws:sts::${account}:assumed-role/${role}/sigwatch-verify`, UserId: 'AROA:sigwatch-verify' };
  });
  ecr.on(DescribeRepositoriesCommand).callsFake(async (_input: unknown, getClient: () => unknown) => {
    const account = accountOfKey((await credentialsOf(getClient())).accessKeyId);
    if (account === NO_ECR_ACCOUNT)
      throw awsError(
        'AccessDeniedException',
        400,
        `User arn:aws:sts::${account}:assumed-role/sigwatch-reader/sigwatch-verify is not authorized to perform: ecr:DescribeRepositories`,
      );
    return { repositories: [{ repositoryName: 'payments/ledger' }] };
  });
  ecr
    .on(GetAuthorizationTokenCommand)
    .resolves({ authorizationData: [{ authorizationToken: Buffer.from(`AWS:${ECR_TOKEN_A}`).toString('base64'), proxyEndpoint: 'https://x' }] });
});

afterEach(() => {
  sts.reset();
  ecr.reset();
  secrets.reset();
});

async function check(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await run(['associations', 'check', ...args], { stdout: (s) => (stdout += `${s}\n`), stderr: (s) => (stderr += `${s}\n`), now: testNow });
  return { code, stdout, stderr };
}

/** Every ECR and GetCallerIdentity call: the command, its input, and the region and access key of the client that sent it. */
async function memberCalls() {
  const out: { command: string; input: unknown; region: string; accessKeyId: string; sessionToken: string | undefined }[] = [];
  for (const [mock, commands] of [
    [sts, [GetCallerIdentityCommand]],
    [ecr, [DescribeRepositoriesCommand, GetAuthorizationTokenCommand]],
  ] as const) {
    for (const command of commands) {
      for (const call of (mock as typeof ecr).commandCalls(command as typeof DescribeRepositoriesCommand)) {
        const c = await credentialsOf(call.thisValue);
        out.push({
          command: command.name,
          input: call.args[0].input,
          region: await regionOf(call.thisValue),
          accessKeyId: c.accessKeyId,
          sessionToken: c.sessionToken,
        });
      }
    }
  }
  return out.sort((a, b) => `${a.accessKeyId}${a.region}${a.command}`.localeCompare(`${b.accessKeyId}${b.region}${b.command}`));
}

function assertNoSecrets(text: string) {
  for (const secret of [EXTERNAL_ID, AWS_EXAMPLE_SECRET_KEY, STS_SESSION_TOKEN_PREFIX, ECR_TOKEN_A, Buffer.from(`AWS:${ECR_TOKEN_A}`).toString('base64')]) {
    assert.ok(!text.includes(secret), 'a secret in the output');
  }
  assert.ok(!text.includes('is not authorized'), "the service's own message is not repeated");
}

describe('sigwatch associations check', () => {
  it('an account that works: AssumeRole with the ExternalId and SourceIdentity, then GetCallerIdentity and ECR with the assumed session', async () => {
    const r = await check('acme/payments', '--account', OK_ACCOUNT, '--config', ACME);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input),
      [{ RoleArn: ROLES[OK_ACCOUNT], RoleSessionName: 'sigwatch-verify', DurationSeconds: 1800, SourceIdentity: 'sigwatch', ExternalId: EXTERNAL_ID }],
    );
    assert.deepEqual(
      secrets.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input),
      [{ SecretId: PAYMENTS_SECRET }],
    );
    // AssumeRole went through the central account's client, not a member session.
    const central = sts.commandCalls(AssumeRoleCommand)[0]!;
    assert.equal(await regionOf(central.thisValue), 'eu-west-1');
    const key = `ASIA${OK_ACCOUNT}`;
    const token = sessionFor(OK_ACCOUNT).SessionToken;
    assert.deepEqual(await memberCalls(), [
      { command: 'DescribeRepositoriesCommand', input: { maxResults: 1 }, region: 'eu-central-1', accessKeyId: key, sessionToken: token },
      { command: 'GetAuthorizationTokenCommand', input: {}, region: 'eu-central-1', accessKeyId: key, sessionToken: token },
      { command: 'GetCallerIdentityCommand', input: {}, region: 'eu-central-1', accessKeyId: key, sessionToken: token },
      { command: 'DescribeRepositoriesCommand', input: { maxResults: 1 }, region: 'eu-west-1', accessKeyId: key, sessionToken: token },
      { command: 'GetAuthorizationTokenCommand', input: {}, region: 'eu-west-1', accessKeyId: key, sessionToken: token },
      { command: 'GetCallerIdentityCommand', input: {}, region: 'eu-west-1', accessKeyId: key, sessionToken: token },
    ]);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^GROUP\s+ACCOUNT\s+REGION\s+ASSUME ROLE\s+IDENTITY\s+ECR LIST\s+ECR LOGIN$/);
    assert.match(lines[1]!, new RegExp(`^acme/payments\\s+${OK_ACCOUNT}\\s+eu-west-1\\s+ok\\s+ok\\s+ok\\s+ok$`));
    assert.match(lines[2]!, new RegExp(`^acme/payments\\s+${OK_ACCOUNT}\\s+eu-central-1\\s+ok\\s+ok\\s+ok\\s+ok$`));
    assert.equal(lines.at(-1), 'AWS role impersonation was successful!');
    assert.equal(lines.length, 4);
    assertNoSecrets(r.stdout + r.stderr);
  });

  it('a role that cannot be assumed, and a role without ecr:DescribeRepositories: exit 1, each named with what is missing', async () => {
    const r = await check('acme/payments', '--config', ACME);
    assert.equal(r.code, 1, r.stderr);
    // One AssumeRole per account (the session serves all its regions), each with the exact parameters.
    const assumed = sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input);
    assert.deepEqual(
      assumed.sort((a, b) => String(a.RoleArn).localeCompare(String(b.RoleArn))),
      [DENIED_ACCOUNT, OK_ACCOUNT, NO_ECR_ACCOUNT].map((a) => ({
        RoleArn: ROLES[a],
        RoleSessionName: 'sigwatch-verify',
        DurationSeconds: 1800,
        SourceIdentity: 'sigwatch',
        ExternalId: EXTERNAL_ID,
      })),
    );
    // The secret is shared by both associations: read once, and once more after the
    // AccessDenied (sessions re-read a cached ExternalId once in case it was rotated).
    assert.deepEqual(
      secrets.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input),
      [{ SecretId: PAYMENTS_SECRET }, { SecretId: PAYMENTS_SECRET }],
    );
    const calls = await memberCalls();
    // Nothing was called for the account whose role could not be assumed, and every
    // other call used the session of the account it checks.
    assert.ok(!calls.some((c) => c.accessKeyId.includes(DENIED_ACCOUNT)));
    const noEcr = calls.filter((c) => c.accessKeyId === `ASIA${NO_ECR_ACCOUNT}`);
    assert.deepEqual(
      noEcr.map((c) => [c.command, c.region]),
      [
        ['DescribeRepositoriesCommand', 'eu-west-1'],
        ['GetAuthorizationTokenCommand', 'eu-west-1'],
        ['GetCallerIdentityCommand', 'eu-west-1'],
      ],
    );
    assert.equal(calls.length, 3 * 3, 'three calls in each of the three regions of the two assumable accounts');

    const rows = r.stdout.split('\n');
    const row = (account: string, region: string) => rows.find((l) => l.includes(account) && l.includes(region)) ?? '';
    assert.match(row(OK_ACCOUNT, 'eu-west-1'), /ok\s+ok\s+ok\s+ok$/);
    assert.match(row(DENIED_ACCOUNT, 'us-east-1'), /^acme\/payments\s+012345678901\s+us-east-1\s+failed\s+skipped\s+skipped\s+skipped$/);
    assert.match(row(NO_ECR_ACCOUNT, 'eu-west-1'), /^acme\/payments\/api\s+222233334444\s+eu-west-1\s+ok\s+ok\s+failed\s+ok$/);
    assert.ok(
      r.stdout.includes(
        `  ${DENIED_ACCOUNT} us-east-1 assume-role: account ${DENIED_ACCOUNT}: cannot assume ${ROLES[DENIED_ACCOUNT]}: access denied: the role's trust policy must allow this function sts:AssumeRole and sts:SetSourceIdentity, with the association's ExternalId (AccessDenied, HTTP 403, request req-AccessDenied)`,
      ),
      r.stdout,
    );
    assert.ok(
      r.stdout.includes(
        `  ${NO_ECR_ACCOUNT} eu-west-1 ecr-describe-repositories: the role lacks ecr:DescribeRepositories (AccessDeniedException, HTTP 400, request req-AccessDeniedException)`,
      ),
      r.stdout,
    );
    assert.equal(
      r.stdout.trimEnd().split('\n').at(-1),
      `AWS checks failed for 2 of 4 account regions: ${DENIED_ACCOUNT} (us-east-1): role not assumed, ${NO_ECR_ACCOUNT} (eu-west-1): role assumed, ECR listing refused`,
    );
    assertNoSecrets(r.stdout + r.stderr);
  });

  it('says "no AWS credentials found" when the SDK has none, not that AWS could not be reached', async () => {
    // What the SDK's default chain throws with no profile, environment or instance role: nothing was sent.
    const none = () => Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    secrets.reset();
    secrets.on(GetSecretValueCommand).rejects(none());
    const r = await check('acme/payments', '--account', OK_ACCOUNT, '--config', ACME);
    assert.equal(r.code, 1);
    assert.ok(
      r.stdout.includes(
        `  ${OK_ACCOUNT} eu-west-1 assume-role: account ${OK_ACCOUNT}: cannot assume ${ROLES[OK_ACCOUNT]}: cannot read its ExternalId from ${PAYMENTS_SECRET}: no AWS credentials found: run with the credentials of the sigwatch functions' role (AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) (CredentialsProviderError)`,
      ),
      r.stdout,
    );
    assert.doesNotMatch(r.stdout, /could not be reached|retry later/);
    assert.equal(r.stdout.trimEnd().split('\n').at(-1), 'AWS checks not run: no AWS credentials found (2 of 2 account regions unchecked)');
  });

  it('--format json: one object with every step of every account region', async () => {
    const r = await check('acme/payments/api', '--config', ACME, '--format', 'json');
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as {
      ok: boolean;
      verdict: string;
      results: { account: string; region: string; ok: boolean; steps: { check: string; status: string }[] }[];
    };
    assert.equal(out.ok, false);
    // The role was assumed: the verdict says where it stopped, not that impersonation failed.
    assert.equal(out.verdict, `AWS checks failed for 1 of 1 account region: ${NO_ECR_ACCOUNT} (eu-west-1): role assumed, ECR listing refused`);
    assert.deepEqual(
      out.results.map((x) => [x.account, x.region, x.ok, x.steps.map((s) => `${s.check}:${s.status}`)]),
      [[NO_ECR_ACCOUNT, 'eu-west-1', false, ['assume-role:ok', 'caller-identity:ok', 'ecr-describe-repositories:failed', 'ecr-authorization-token:ok']]],
    );
    assertNoSecrets(r.stdout + r.stderr);
  });

  it('a session that is not the member role in the member account fails the identity check', async () => {
    sts.on(GetCallerIdentityCommand).resolves({ Account: '999999999999', Arn: 'arn:aws:sts::999999999999:assumed-role/other/x' });
    const r = await check('acme', '--account', OK_ACCOUNT, '--config', ACME);
    assert.equal(r.code, 1);
    assert.ok(
      r.stdout.includes(
        `${OK_ACCOUNT} eu-west-1 caller-identity: the session is arn:aws:sts::999999999999:assumed-role/other/x in account 999999999999, not role sigwatch-reader in ${OK_ACCOUNT}`,
      ),
      r.stdout,
    );
  });

  it('an unreadable ExternalId secret fails the account, naming the secret and not its value', async () => {
    secrets.reset();
    secrets.on(GetSecretValueCommand).rejects(awsError('AccessDeniedException', 400, 'not authorized'));
    const r = await check('acme/payments', '--account', OK_ACCOUNT, '--config', ACME);
    assert.equal(r.code, 1);
    assert.equal(sts.commandCalls(AssumeRoleCommand).length, 0, 'no AssumeRole without the ExternalId');
    assert.ok(r.stdout.includes(`cannot read its ExternalId from ${PAYMENTS_SECRET}: access to the secret denied`), r.stdout);
  });

  describe('configuration and usage errors exit 2 and call nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigwatch-assoc-'));
    after(() => rmSync(dir, { recursive: true, force: true }));

    for (const [label, args, message] of [
      ['an unknown group', ['acme/nope', '--config', ACME], /group acme\/nope is not in the sigwatch configuration/],
      [
        'an account not below the group',
        ['acme/retail', '--account', OK_ACCOUNT, '--config', ACME],
        /account 111122223333 is not associated with group acme\/retail or below it/,
      ],
      ['a malformed account id', ['--account', '1234', '--config', ACME], /--account: an AWS account id is 12 digits/],
      ['a missing configuration file', ['--config', join(dir, 'absent.yaml')], /cannot read the sigwatch configuration/],
      ['no configuration at all', [], /give --config FILE\|s3:\/\/BUCKET\/KEY, or set SIGWATCH_CONFIG_BUCKET/],
      ['two groups', ['acme', 'acme/retail', '--config', ACME], /at most one GROUP/],
      ['an unknown format', ['--format', 'yaml', '--config', ACME], /--format must be one of table, json/],
    ] as const) {
      it(label, async () => {
        const saved = process.env.SIGWATCH_CONFIG_BUCKET;
        delete process.env.SIGWATCH_CONFIG_BUCKET;
        try {
          const r = await check(...args);
          assert.equal(r.code, 2, r.stdout + r.stderr);
          assert.match(r.stderr, message);
        } finally {
          if (saved !== undefined) process.env.SIGWATCH_CONFIG_BUCKET = saved;
        }
        assert.equal(sts.commandCalls(AssumeRoleCommand).length, 0);
      });
    }

    it('an invalid configuration, every problem with its path', async () => {
      const bad = join(dir, 'bad.yaml');
      writeFileSync(
        bad,
        'defaults:\n  roleName: sigwatch-member\noperators:\n  topicArn: arn:aws:sns:eu-west-1:999999999999:ops\ngroups:\n  acme:\n    topicArn: arn:aws:sns:eu-west-1:999999999999:acme\nassociations:\n  - group: acme\n    accounts:\n      - id: "1111"\n        regions: [eu-west-1]\n',
      );
      const r = await check('--config', bad);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /associations\[0\]\.accounts\[0\]\.id/);
    });
  });

  it('is in the CLI help, and has its own', async () => {
    let out = '';
    assert.equal(await run(['--help'], { stdout: (s) => (out += s), stderr: () => {}, now: testNow }), 0);
    assert.match(out, /associations check \[GROUP\] \[--account ID\]/);
    let help = '';
    assert.equal(await associationsCommand(['check', '--help'], { stdout: (s) => (help += s), stderr: () => {}, now: testNow }), 0);
    assert.match(help, /AWS account associated with GROUP or a group below it/);
  });
});

const GCP_AUDIENCE = '//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/sigwatch/providers/aws-central';
const GCP_SA = 'sigwatch-reader@acme-ml-prod.iam.gserviceaccount.com';
const GCP_SA_UNTRUSTED = 'sigwatch-reader@acme-labs.iam.gserviceaccount.com';

describe('sigwatch associations check: GCP projects', () => {
  let google: FakeGoogle;
  const dir = mkdtempSync(join(tmpdir(), 'sigwatch-assoc-gcp-'));
  const file = join(dir, 'sigwatch.yaml');
  writeFileSync(
    file,
    `defaults: { roleName: sigwatch-reader }
operators: { topicArn: "arn:aws:sns:eu-west-1:999999999999:ops" }
groups:
  acme: { topicArn: "arn:aws:sns:eu-west-1:999999999999:acme" }
  acme/ml: {}
  acme/data: {}
  acme/labs: {}
associations:
  - group: acme
    externalId: { secretArn: "${PAYMENTS_SECRET}" }
    accounts: [{ id: "${OK_ACCOUNT}", regions: [eu-west-1] }]
  - group: acme/ml
    gcp:
      audience: ${GCP_AUDIENCE}
      serviceAccount: ${GCP_SA}
      projects: [{ id: acme-ml-prod, locations: [us-central1, europe] }]
  - group: acme/data
    gcp:
      audience: ${GCP_AUDIENCE}
      projects: [{ id: acme-data-prod, locations: [us] }, { id: acme-data-dev, locations: [us] }]
  - group: acme/labs
    gcp:
      audience: ${GCP_AUDIENCE}
      serviceAccount: ${GCP_SA_UNTRUSTED}
      projects: [{ id: acme-labs-dev, locations: [us] }]
`,
  );
  before(async () => {
    google = await startFakeGoogle({
      awsSecretKey: AWS_GCP_SIGNER_SECRET_KEY,
      impersonable: [GCP_SA],
      projects: ['acme-ml-prod', 'acme-data-prod', 'acme-data-dev', 'acme-labs-dev'],
      readableProjects: ['acme-ml-prod', 'acme-data-prod'],
    });
  });
  after(async () => {
    await google?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function checkGcp(...args: string[]) {
    let stdout = '';
    let stderr = '';
    google.requests.length = 0;
    const code = await associationsCommand(
      ['check', ...args, '--config', file],
      { stdout: (x) => (stdout += `${x}\n`), stderr: (x) => (stderr += `${x}\n`), now: testNow },
      {
        region: 'eu-west-1',
        gcp: {
          tokenUrl: `${google.url}/v1/token`,
          iamCredentialsUrl: google.url,
          artifactRegistryUrl: google.url,
          insecureHosts: [google.host],
          http: { backoffMs: 1 },
        },
        credentials: async () => ({
          accessKeyId: AWS_GCP_SIGNER_ACCESS_KEY_ID,
          secretAccessKey: AWS_GCP_SIGNER_SECRET_KEY,
          sessionToken: AWS_GCP_SIGNER_SESSION_TOKEN,
        }),
      },
    );
    return { code, stdout, stderr };
  }

  it('a project that works: the token exchange, the impersonation and a repositories list per location, each request exact', async () => {
    const r = await checkGcp('acme/ml');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(sts.commandCalls(AssumeRoleCommand).length, 0, 'no AWS account below acme/ml');
    assert.deepEqual(google.refusals, []);
    assert.deepEqual(
      google.requests.map((q) => `${q.method} ${q.path} ${q.authorization ?? '-'}`),
      [
        'POST /v1/token -',
        `POST /v1/projects/-/serviceAccounts/${GCP_SA}:generateAccessToken Bearer ${GCP_FEDERATED_TOKEN}`,
        `GET /v1/projects/acme-ml-prod/locations/us-central1/repositories?pageSize=1 Bearer ${GCP_SA_TOKEN}`,
        `GET /v1/projects/acme-ml-prod/locations/europe/repositories?pageSize=1 Bearer ${GCP_SA_TOKEN}`,
      ],
    );
    const form = Object.fromEntries(new URLSearchParams(google.requests[0]!.body));
    assert.deepEqual(Object.keys(form).sort(), ['audience', 'grant_type', 'requested_token_type', 'scope', 'subject_token', 'subject_token_type']);
    assert.equal(form.audience, GCP_AUDIENCE);
    assert.equal(form.scope, 'https://www.googleapis.com/auth/cloud-platform');
    assert.deepEqual(JSON.parse(google.requests[1]!.body), { scope: ['https://www.googleapis.com/auth/cloud-platform'] });
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^GROUP\s+PROJECT\s+LOCATION\s+TOKEN EXCHANGE\s+IMPERSONATE\s+AR LIST$/);
    assert.match(lines[1]!, /^acme\/ml\s+acme-ml-prod\s+us-central1\s+ok\s+ok\s+ok$/);
    assert.match(lines[2]!, /^acme\/ml\s+acme-ml-prod\s+europe\s+ok\s+ok\s+ok$/);
    assert.equal(lines.at(-1), 'GCP workload identity federation was successful!');
    assert.equal(lines.length, 4);
    assertNoSecrets(r.stdout + r.stderr);
    assertNoTestSecrets(r.stdout + r.stderr, 'the check output');
  });

  it('AWS and GCP together: an identity that cannot impersonate, and one without Artifact Registry read, each named with what is missing', async () => {
    const r = await checkGcp();
    assert.equal(r.code, 1, r.stderr);
    assert.equal(sts.commandCalls(AssumeRoleCommand).length, 1, 'the AWS account is checked too');
    // One exchange per association (three), one impersonation each where a service account is named.
    assert.equal(google.requests.filter((q) => q.path === '/v1/token').length, 3);
    assert.deepEqual(
      google.requests
        .filter((q) => q.path.includes(':generateAccessToken'))
        .map((q) => q.path)
        .sort(),
      [`/v1/projects/-/serviceAccounts/${GCP_SA_UNTRUSTED}:generateAccessToken`, `/v1/projects/-/serviceAccounts/${GCP_SA}:generateAccessToken`],
    );
    // Without a service account the federated token itself lists; after a refused impersonation nothing is listed.
    assert.deepEqual(
      google.requests
        .filter((q) => q.method === 'GET')
        .map((q) => `${q.path.split('/')[3]} ${q.authorization}`)
        .sort(),
      [
        `acme-data-dev Bearer ${GCP_FEDERATED_TOKEN}`,
        `acme-data-prod Bearer ${GCP_FEDERATED_TOKEN}`,
        `acme-ml-prod Bearer ${GCP_SA_TOKEN}`,
        `acme-ml-prod Bearer ${GCP_SA_TOKEN}`,
      ],
    );
    const rows = r.stdout.split('\n');
    const row = (project: string) => rows.find((l) => l.includes(` ${project} `)) ?? '';
    assert.match(rows[0]!, /^GROUP\s+ACCOUNT\s+REGION/);
    assert.match(row('acme-data-prod'), /^acme\/data\s+acme-data-prod\s+us\s+ok\s+-\s+ok$/);
    assert.match(row('acme-data-dev'), /^acme\/data\s+acme-data-dev\s+us\s+ok\s+-\s+failed$/);
    assert.match(row('acme-labs-dev'), /^acme\/labs\s+acme-labs-dev\s+us\s+ok\s+failed\s+skipped$/);
    assert.ok(
      r.stdout.includes(
        '  acme-data-dev us artifact-registry-list: the identity lacks artifactregistry.repositories.list on project acme-data-dev (grant roles/artifactregistry.reader) (HTTP 403 PERMISSION_DENIED)',
      ),
      r.stdout,
    );
    assert.ok(
      r.stdout.includes(
        `  acme-labs-dev us impersonation: GCP IAM generateAccessToken for ${GCP_SA_UNTRUSTED} failed (HTTP 403 PERMISSION_DENIED): the federated identity needs roles/iam.workloadIdentityUser on ${GCP_SA_UNTRUSTED}`,
      ),
      r.stdout,
    );
    assert.equal(
      r.stdout.trimEnd().split('\n').at(-1),
      'AWS role impersonation was successful! GCP workload identity federation failed for 2 of 5 project locations: acme-data-dev (us), acme-labs-dev (us)',
    );
    assert.doesNotMatch(r.stdout, /Permission '/, "Google's own message is not repeated");
    assertNoTestSecrets(r.stdout + r.stderr, 'the check output');
  });

  it('a refused token exchange fails every location of the association, and --format json carries the GCP results', async () => {
    let out = '';
    const r = await associationsCommand(
      ['check', 'acme/ml', '--config', file, '--format', 'json'],
      { stdout: (x) => (out += x), stderr: () => {}, now: testNow },
      {
        region: 'eu-west-1',
        gcp: {
          tokenUrl: `${google.url}/v1/token`,
          iamCredentialsUrl: google.url,
          artifactRegistryUrl: google.url,
          insecureHosts: [google.host],
          http: { backoffMs: 1 },
        },
        credentials: async () => ({ accessKeyId: AWS_GCP_SIGNER_ACCESS_KEY_ID, secretAccessKey: AWS_GCP_WRONG_SECRET_KEY }),
      },
    );
    assert.equal(r, 1);
    const json = JSON.parse(out) as {
      ok: boolean;
      verdict: string;
      results: unknown[];
      gcp: { project: string; location: string; ok: boolean; steps: { check: string; status: string; detail: string }[] }[];
    };
    assert.equal(json.ok, false);
    assert.deepEqual(json.results, []);
    assert.deepEqual(
      json.gcp.map((g) => [g.project, g.location, g.ok, g.steps.map((s) => `${s.check}:${s.status}`)]),
      ['us-central1', 'europe'].map((l) => ['acme-ml-prod', l, false, ['token-exchange:failed', 'impersonation:skipped', 'artifact-registry-list:skipped']]),
    );
    assert.equal(
      json.gcp[0]!.steps[0]!.detail,
      `GCP STS ${google.host}/v1/token: token exchange for ${GCP_AUDIENCE} failed (HTTP 400 invalid_grant): the pool provider must trust sigwatch's AWS role (docs/deploy.md)`,
    );
    assert.equal(json.verdict, 'GCP workload identity federation failed for 2 of 2 project locations: acme-ml-prod (us-central1), acme-ml-prod (europe)');
    assertNoTestSecrets(out, 'the JSON output');
  });

  it('Google STS not answering is named as such, without a hint about trust it cannot know', async () => {
    // A port that was free a moment ago: nothing listens, the connection is refused.
    const closed = await startHttpServer(() => {});
    await closed.close();
    let out = '';
    const code = await associationsCommand(
      ['check', '--project', 'acme-data-prod', '--config', file, '--format', 'json'],
      { stdout: (x) => (out += x), stderr: () => {}, now: testNow },
      {
        region: 'eu-west-1',
        gcp: { tokenUrl: `${closed.url}/v1/token`, insecureHosts: [closed.host], http: { backoffMs: 1, attempts: 1 } },
        credentials: async () => ({ accessKeyId: AWS_GCP_SIGNER_ACCESS_KEY_ID, secretAccessKey: AWS_GCP_SIGNER_SECRET_KEY }),
      },
    );
    assert.equal(code, 1);
    const detail = (JSON.parse(out) as { gcp: { steps: { check: string; status: string; detail: string }[] }[] }).gcp[0]!.steps[0]!;
    assert.equal(detail.status, 'failed');
    assert.equal(detail.detail, `GCP STS token exchange for ${GCP_AUDIENCE}: ${closed.host}/v1/token: ECONNREFUSED (connect ECONNREFUSED ${closed.host})`);
    assert.doesNotMatch(detail.detail, /must trust/);
  });

  it('--project: one project only; an unknown or malformed one is a usage or configuration error', async () => {
    const r = await checkGcp('--project', 'acme-data-prod');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(
      google.requests.map((q) => q.path),
      ['/v1/token', '/v1/projects/acme-data-prod/locations/us/repositories?pageSize=1'],
    );
    assert.equal(sts.commandCalls(AssumeRoleCommand).length, 0);
    await assert.rejects(checkGcp('--project', 'Acme'), /--project: a GCP project id is 6 to 30 lowercase letters/);
    await assert.rejects(checkGcp('acme/ml', '--project', 'acme-data-prod'), /GCP project acme-data-prod is not associated with group acme\/ml or below it/);
    assert.equal(google.requests.length, 0);
  });
});

describe('checkTargets', () => {
  const parsed = parseConfig(
    [
      'defaults: { roleName: r }',
      'operators: { topicArn: "arn:aws:sns:eu-west-1:999999999999:ops" }',
      'groups:',
      '  acme: { topicArn: "arn:aws:sns:eu-west-1:999999999999:a" }',
      '  acme/x: {}',
      '  acme-labs: { topicArn: "arn:aws:sns:eu-west-1:999999999999:b" }',
      'associations:',
      '  - { group: acme, accounts: [{ id: "111111111111", regions: [eu-west-1] }] }',
      '  - { group: acme/x, accounts: [{ id: "222222222222", regions: [eu-west-1] }] }',
      '  - { group: acme-labs, accounts: [{ id: "333333333333", regions: [eu-west-1] }] }',
    ].join('\n'),
  );
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.problems));
  const ids = (group?: string, account?: string) => checkTargets(parsed.config, { group, account }).aws.map((t) => t.account.id);

  it('a group covers itself and the groups below it, not a group that merely shares its prefix', () => {
    assert.deepEqual(ids('acme'), ['111111111111', '222222222222']);
    assert.deepEqual(ids('acme/x'), ['222222222222']);
    assert.deepEqual(ids(), ['111111111111', '222222222222', '333333333333']);
    assert.deepEqual(ids(undefined, '333333333333'), ['333333333333']);
  });

  it('an empty selection is an error, not a success', () => {
    throwsWith(() => ids('acme/x', '111111111111'), 'CONFIG', 'account 111111111111 is not associated with group acme/x or below it');
  });

  it('GCP projects are selected like accounts: by group, or one by --project, and --account alone selects no project', () => {
    const withGcp = parseConfig(
      [
        'defaults: { roleName: r }',
        'operators: { topicArn: "arn:aws:sns:eu-west-1:999999999999:ops" }',
        'groups:',
        '  acme: { topicArn: "arn:aws:sns:eu-west-1:999999999999:a" }',
        '  acme/ml: {}',
        'associations:',
        '  - { group: acme, accounts: [{ id: "111111111111", regions: [eu-west-1] }] }',
        `  - group: acme/ml`,
        `    gcp: { audience: "${GCP_AUDIENCE}", projects: [{ id: acme-ml-prod, locations: [us] }, { id: acme-ml-dev, locations: [us] }] }`,
      ].join('\n'),
    );
    assert.ok(withGcp.ok, JSON.stringify(!withGcp.ok && withGcp.problems));
    const select = (selection: Parameters<typeof checkTargets>[1]) => {
      const t = checkTargets(withGcp.config, selection);
      return { aws: t.aws.map((x) => x.account.id), gcp: t.gcp.flatMap((x) => x.projects.map((p) => `${x.group}:${p.id}`)) };
    };
    assert.deepEqual(select({}), { aws: ['111111111111'], gcp: ['acme/ml:acme-ml-prod', 'acme/ml:acme-ml-dev'] });
    assert.deepEqual(select({ group: 'acme/ml' }), { aws: [], gcp: ['acme/ml:acme-ml-prod', 'acme/ml:acme-ml-dev'] });
    assert.deepEqual(select({ project: 'acme-ml-dev' }), { aws: [], gcp: ['acme/ml:acme-ml-dev'] });
    assert.deepEqual(select({ account: '111111111111' }), { aws: ['111111111111'], gcp: [] });
    assert.deepEqual(select({ account: '111111111111', project: 'acme-ml-prod' }), { aws: ['111111111111'], gcp: ['acme/ml:acme-ml-prod'] });
    throwsWith(() => select({ project: 'acme-web-prod' }), 'CONFIG', 'GCP project acme-web-prod is not associated with the sigwatch configuration');
  });
});
