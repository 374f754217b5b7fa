import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { STSClient } from '@aws-sdk/client-sts';
import { callerIdentitySigner } from '../../src/accounts/caller-identity-signer.ts';
import { parseConfig } from '../../src/accounts/config.ts';
import { formatProblem } from '../../src/field-reader.ts';
import { GcpFederations } from '../../src/accounts/gcp-federation.ts';
import { AccountDirectory } from '../../src/accounts/groups.ts';
import { gcpFederations } from '../../src/pipeline/assemble.ts';
import { CentralVerifier } from '../../src/pipeline/central.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { FileConfigSource } from '../../src/store/config-object.ts';
import { folderPrefixReader } from '../../src/store/folder.ts';
import { GroupPolicies } from '../../src/store/group-policies.ts';
import { buildImage, generateKeyPair, pushManifest, signImageWithKey, startRegistry, yamlBlock, type TestRegistry } from '../support/index.ts';
import { rejectsWith } from '../support/assert.ts';
import { startFakeGoogle, type FakeGoogle } from '../support/fake-google.ts';
import {
  assertNoSecrets,
  AWS_GCP_SIGNER_ACCESS_KEY_ID,
  AWS_GCP_SIGNER_SECRET_KEY,
  AWS_GCP_SIGNER_SESSION_TOKEN,
  AWS_GCP_WRONG_SECRET_KEY,
  GCP_FEDERATED_TOKEN,
  GCP_SA_TOKEN,
} from '../support/secrets.ts';
import { testNow } from '../support/clock.ts';

const AUDIENCE = '//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/sigwatch/providers/aws-central';
const SA = 'sigwatch-reader@acme-ml-prod.iam.gserviceaccount.com';
const SIGNER_CREDENTIALS = {
  accessKeyId: AWS_GCP_SIGNER_ACCESS_KEY_ID,
  secretAccessKey: AWS_GCP_SIGNER_SECRET_KEY,
  sessionToken: AWS_GCP_SIGNER_SESSION_TOKEN,
};
const TOPIC = 'arn:aws:sns:eu-west-1:999999999999';

function config(associations: string, groups = '  acme: { topicArn: "arn:aws:sns:eu-west-1:999999999999:acme" }\n  acme/ml: {}\n  acme/web: {}\n') {
  return `defaults: { roleName: sigwatch-reader }
operators: { topicArn: "${TOPIC}:ops" }
groups:
${groups}associations:
${associations}`;
}

const problemsOf = (text: string) => {
  const r = parseConfig(text);
  return r.ok ? [] : r.problems.map(formatProblem);
};

describe('sigwatch.yaml: GCP associations', () => {
  it('an association of GCP projects only, and one of accounts and projects', () => {
    const r = parseConfig(
      config(`  - group: acme/ml
    gcp:
      audience: ${AUDIENCE}
      serviceAccount: ${SA}
      projects:
        - id: acme-ml-prod
          locations: [us-central1, europe]
  - group: acme/web
    accounts: [{ id: "111122223333", regions: [eu-west-1] }]
    gcp:
      audience: ${AUDIENCE}
      projects: [{ id: acme-web-prod, locations: [us] }]
`),
    );
    assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
    const [ml, web] = r.config.associations;
    assert.deepEqual(ml, {
      group: 'acme/ml',
      accounts: [],
      gcp: { audience: AUDIENCE, serviceAccount: SA, projects: [{ id: 'acme-ml-prod', locations: ['us-central1', 'europe'] }] },
    });
    assert.deepEqual(web!.gcp, { audience: AUDIENCE, projects: [{ id: 'acme-web-prod', locations: ['us'] }] });
    assert.equal(web!.accounts[0]!.roleArn, 'arn:aws:iam::111122223333:role/sigwatch-reader');
    assert.ok(Object.isFrozen(ml!.gcp) && Object.isFrozen(ml!.gcp!.projects[0]));
  });

  it('every problem of a GCP association, with its path', () => {
    const problems = problemsOf(
      config(`  - group: acme/ml
  - group: acme/ml
    externalId: { secretArn: "arn:aws:secretsmanager:eu-west-1:999999999999:secret:x" }
    repositories: [team/]
    gcp:
      audience: projects/1/pools/x
      serviceAccount: "not an email"
      region: us
      projects:
        - id: Acme_ML
          locations: [us-central1, us-central1]
        - id: acme-ml-prod
        - id: acme-ml-dev
          locations: ["us central"]
  - group: acme/web
    gcp:
      audience: ${AUDIENCE}
      projects: [{ id: acme-ml-dev, locations: [us] }, { id: acme-web-prod, locations: [us] }]
  - group: acme/web
    gcp:
      audience: ${AUDIENCE}
      projects: [{ id: acme-web-dev, locations: [us] }]
`),
    );
    assert.deepEqual(problems, [
      'associations[0].accounts: missing field: an association has AWS accounts, GCP projects (gcp), or both',
      'associations[1].externalId: applies to AWS accounts, and this association has none',
      'associations[1].repositories: applies to AWS accounts, and this association has none',
      'associations[1].gcp.region: unknown field (expected audience, serviceAccount, projects)',
      'associations[1].gcp.audience: invalid value: "projects/1/pools/x": expected a workload identity pool provider: //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER',
      'associations[1].gcp.serviceAccount: invalid value: "not an email": expected a service account email',
      'associations[1].gcp.projects[0].id: invalid value: "Acme_ML": a project id is 6 to 30 lowercase letters, digits and hyphens, starting with a letter',
      'associations[1].gcp.projects[0].locations[1]: us-central1 is listed twice',
      'associations[1].gcp.projects[1].locations: missing field',
      'associations[1].gcp.projects[2].locations[0]: invalid value: "us central": expected an Artifact Registry location such as us-central1 or europe',
      'associations[2].gcp.projects[0].id: project acme-ml-dev is already associated (associations[1].gcp.projects[2])',
      'associations[3].gcp: group acme/web already has GCP projects (associations[2].gcp): list them all in one association',
    ]);
  });

  it("a group reads with its own GCP association, else its nearest ancestor's", () => {
    const r = parseConfig(
      config(
        `  - group: acme
    gcp: { audience: "${AUDIENCE}", projects: [{ id: acme-platform, locations: [us] }] }
  - group: acme/ml
    gcp: { audience: "${AUDIENCE}", serviceAccount: ${SA}, projects: [{ id: acme-ml-prod, locations: [us] }] }
  - group: other
    accounts: [{ id: "111122223333", regions: [eu-west-1] }]
`,
        `  acme: { topicArn: "${TOPIC}:acme" }\n  acme/ml: {}\n  acme/ml/train: {}\n  acme/web: {}\n  other: { topicArn: "${TOPIC}:other" }\n`,
      ),
    );
    assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
    const directory = new AccountDirectory(r.config);
    const projectsOf = (group: string) => directory.gcpFor(group)?.projects.map((p) => p.id);
    assert.deepEqual(projectsOf('acme/ml/train'), ['acme-ml-prod']);
    assert.deepEqual(projectsOf('acme/ml'), ['acme-ml-prod']);
    assert.deepEqual(projectsOf('acme/web'), ['acme-platform']);
    assert.equal(projectsOf('other'), undefined);
  });
});

describe("GCP federation with sigwatch's AWS identity", () => {
  let google: FakeGoogle;
  before(async () => {
    google = await startFakeGoogle({ awsSecretKey: AWS_GCP_SIGNER_SECRET_KEY, impersonable: [SA] });
  });
  after(() => google?.close());
  const federations = (credentials = SIGNER_CREDENTIALS) =>
    new GcpFederations(callerIdentitySigner({ region: async () => 'eu-west-1', credentials, now: testNow }), testNow, {
      tokenUrl: `${google.url}/v1/token`,
      iamCredentialsUrl: google.url,
      insecureHosts: [google.host],
      http: { backoffMs: 1 },
    });
  const gcp = { audience: AUDIENCE, serviceAccount: SA, projects: [{ id: 'acme-ml-prod', locations: ['us'] }] };

  it('signs GetCallerIdentity so that Google, checking SigV4 itself, accepts it for the audience', async () => {
    google.requests.length = 0;
    const lookup = federations().lookupFor(gcp);
    assert.deepEqual(await lookup('us-docker.pkg.dev', 'acme-ml-prod/signatures/app'), {
      kind: 'basic',
      username: 'oauth2accesstoken',
      password: GCP_SA_TOKEN,
    });
    assert.deepEqual(google.refusals, []);
    assert.deepEqual(
      google.requests.map((r) => `${r.method} ${r.path} ${r.authorization ?? '-'}`),
      ['POST /v1/token -', `POST /v1/projects/-/serviceAccounts/${SA}:generateAccessToken Bearer ${GCP_FEDERATED_TOKEN}`],
    );
    const subject = JSON.parse(decodeURIComponent(new URLSearchParams(google.requests[0]!.body).get('subject_token')!)) as {
      url: string;
      method: string;
      headers: { key: string; value: string }[];
    };
    assert.equal(subject.url, 'https://sts.eu-west-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15');
    assert.equal(subject.method, 'POST');
    const headers = Object.fromEntries(subject.headers.map((h) => [h.key, h.value]));
    assert.deepEqual(Object.keys(headers).sort(), ['authorization', 'host', 'x-amz-date', 'x-amz-security-token', 'x-goog-cloud-target-resource']);
    assert.equal(headers['x-goog-cloud-target-resource'], AUDIENCE);
    assert.equal(headers['x-amz-security-token'], AWS_GCP_SIGNER_SESSION_TOKEN);
    assert.match(
      headers.authorization!,
      new RegExp(
        `^AWS4-HMAC-SHA256 Credential=${AWS_GCP_SIGNER_ACCESS_KEY_ID}/\\d{8}/eu-west-1/sts/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token;x-goog-cloud-target-resource, Signature=`,
      ),
    );
  });

  it("the deployed functions sign with their STS client's own credentials and region", async () => {
    google.requests.length = 0;
    google.refusals.length = 0;
    const sts = new STSClient({ region: 'ap-southeast-2', credentials: SIGNER_CREDENTIALS });
    const f = gcpFederations(sts, testNow, { tokenUrl: `${google.url}/v1/token`, iamCredentialsUrl: google.url, insecureHosts: [google.host] });
    assert.ok(await f.lookupFor(gcp)('us-docker.pkg.dev', 'acme-ml-prod/app'));
    assert.deepEqual(google.refusals, []);
    const subject = JSON.parse(decodeURIComponent(new URLSearchParams(google.requests[0]!.body).get('subject_token')!)) as { url: string };
    assert.equal(subject.url, 'https://sts.ap-southeast-2.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15');
  });

  it('a signature Google cannot verify is refused, and the refusal names no token or key', async () => {
    google.refusals.length = 0;
    const lookup = federations({ ...SIGNER_CREDENTIALS, secretAccessKey: AWS_GCP_WRONG_SECRET_KEY }).lookupFor(gcp);
    const err = await rejectsWith(
      lookup('us-docker.pkg.dev', 'acme-ml-prod/app'),
      'REGISTRY_AUTH',
      `GCP STS ${google.host}/v1/token: token exchange for ${AUDIENCE} failed (HTTP 400 invalid_grant)`,
    );
    assert.deepEqual(google.refusals, ['signature']);
    assertNoSecrets(err.message, 'the refusal');
  });

  it("sends the group's token only to its own projects' registries, and shares one identity per provider and account", async () => {
    google.requests.length = 0;
    const f = federations();
    const lookup = f.lookupFor(gcp);
    for (const [host, repository] of [
      ['us-docker.pkg.dev', 'other-project/signatures/app'],
      ['gcr.io', 'acme-ml-prod-2/app'],
      ['ghcr.io', 'acme-ml-prod/app'],
      ['docker.pkg.dev.example.com', 'acme-ml-prod/app'],
    ]) {
      assert.equal(await lookup(host!, repository!), undefined, `${host}/${repository}`);
    }
    assert.equal(google.requests.length, 0);
    assert.ok(await lookup('gcr.io', 'acme-ml-prod/app'));
    assert.ok(await f.lookupFor({ ...gcp, projects: [{ id: 'acme-ml-dev', locations: ['us'] }] })('europe-docker.pkg.dev', 'acme-ml-dev/app'));
    assert.equal(f.identity(gcp), f.identity({ ...gcp, projects: [] }));
    assert.notEqual(f.identity(gcp), f.identity({ audience: AUDIENCE, projects: [] }));
    assert.equal(google.requests.length, 2, 'one exchange and one impersonation, cached for the second project');
  });
});

describe("verification reads signatures kept in Artifact Registry with the group's federated token", () => {
  const ECR_HOST = '111122223333.dkr.ecr.eu-west-1.amazonaws.com';
  const key = generateKeyPair();
  const image = buildImage({ seed: 'gcp-signatures' });
  const other = buildImage({ seed: 'gcp-signatures-other' });
  let ecr: TestRegistry;
  let gar: TestRegistry;
  let google: FakeGoogle;
  let dir: string;

  before(async () => {
    [ecr, gar, google] = await Promise.all([
      startRegistry(),
      startRegistry({ auth: { username: 'oauth2accesstoken', password: GCP_SA_TOKEN } }),
      startFakeGoogle({ awsSecretKey: AWS_GCP_SIGNER_SECRET_KEY, impersonable: [SA] }),
    ]);
    await pushManifest(ecr, 'team/app', 'v1', image);
    await pushManifest(ecr, 'team/other', 'v1', other);
    // cosign's COSIGN_REPOSITORY: the signatures live in another registry, naming the image's own repository.
    await signImageWithKey(gar, 'acme-ml-prod/signatures/app', image, key.privateKey, { dockerReference: `${ECR_HOST}/team/app` });
    await signImageWithKey(gar, 'other-project/signatures/app', other, key.privateKey, { dockerReference: `${ECR_HOST}/team/other` });
    dir = mkdtempSync(join(tmpdir(), 'sigwatch-gcp-'));
    writeFileSync(
      join(dir, 'sigwatch.yaml'),
      config(`  - group: acme/ml
    accounts: [{ id: "111122223333", regions: [eu-west-1] }]
    gcp:
      audience: ${AUDIENCE}
      serviceAccount: ${SA}
      projects: [{ id: acme-ml-prod, locations: [us] }]
`),
    );
    mkdirSync(join(dir, 'policies/acme/ml'), { recursive: true });
    const policy = (name: string, glob: string, source: string) => `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: { name: ${name} }
spec:
  images: [{ glob: "${glob}" }]
  authorities:
    - key:
        data: |
${yamlBlock(key.publicKeyPem)}
      source: [{ oci: "${source}" }]
`;
    writeFileSync(join(dir, 'policies/acme/ml/app.yaml'), policy('app', '**/team/app*', 'us-docker.pkg.dev/acme-ml-prod/signatures/app'));
    writeFileSync(join(dir, 'policies/acme/ml/other.yaml'), policy('other', '**/team/other*', 'us-docker.pkg.dev/other-project/signatures/app'));
  });
  after(async () => {
    await Promise.all([ecr?.stop(), gar?.stop(), google?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('admits the image whose signature is in its project, and denies the one whose signature is in a project it was not associated with', async () => {
    const verifier = new CentralVerifier({
      now: testNow,
      config: new FileConfigSource(join(dir, 'sigwatch.yaml')),
      policies: new GroupPolicies(folderPrefixReader(dir)),
      registry: new RegistryClient({ now: testNow, insecureHosts: [ecr.host, gar.host], backoffMs: 1 }),
      endpoint: (host) => (host.endsWith('-docker.pkg.dev') ? gar.host : ecr.host),
      gcp: new GcpFederations(callerIdentitySigner({ region: 'eu-west-1', credentials: SIGNER_CREDENTIALS, now: testNow }), testNow, {
        tokenUrl: `${google.url}/v1/token`,
        iamCredentialsUrl: google.url,
        insecureHosts: [google.host],
      }),
    });
    const batch = await verifier.beginBatch();
    const owned = (repository: string, digest: string) => ({
      account: '111122223333',
      region: 'eu-west-1',
      registry: ECR_HOST,
      repository,
      digest,
      tags: ['v1'],
    });
    const admitted = await batch.check(owned('team/app', image.digest));
    assert.equal(admitted.kind, 'verdict');
    assert.equal(admitted.kind === 'verdict' && admitted.verdict.verdict, 'admit', JSON.stringify(admitted));
    const denied = await batch.check(owned('team/other', other.digest));
    assert.equal(denied.kind === 'verdict' && denied.verdict.verdict, 'deny', JSON.stringify(denied));
    // Anonymous at the other project's registry: refused there, never given acme/ml's token.
    assert.match(
      denied.kind === 'verdict' ? denied.verdict.reasons.join('\n') : '',
      /^policy other: authority authority-0: .*\/v2\/other-project\/signatures\/app\/manifests\/sha256-[0-9a-f]{64}(\.sig)?: access denied anonymously \(no credentials configured for it\) \(HTTP 401\)$/,
    );
    assert.deepEqual(
      google.requests.map((r) => r.path),
      ['/v1/token', `/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`],
    );
    assertNoSecrets(JSON.stringify([admitted, denied]), 'the verdicts');
  });
});
