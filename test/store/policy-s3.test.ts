import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, S3Client, S3ServiceException, type GetObjectCommandOutput } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { MAX_FILE_BYTES } from '../../src/policy/parse.ts';
import { S3PolicyStore } from '../../src/store/s3.ts';
import { openPolicySource, parsePolicyLocation } from '../../src/store/source.ts';
import { startS3, testS3Client, type TestS3 } from '../support/s3.ts';
import { rejectsWith } from '../support/assert.ts';
import { staticPolicyYaml } from '../support/samples.ts';

const BUCKET = 'sigwatch-policies';

const policy = staticPolicyYaml;
const jsonPolicy = (name: string) =>
  JSON.stringify({
    apiVersion: 'policy.sigstore.dev/v1beta1',
    kind: 'ClusterImagePolicy',
    metadata: { name },
    spec: { images: [{ glob: '**' }], authorities: [{ static: { action: 'pass' } }] },
  });
/** The ETag S3 gives a single-part upload: the body's MD5. */
const md5 = (text: string) => createHash('md5').update(text).digest('hex');
const names = (set: { policies: { metadata: { name: string } }[] }) => set.policies.map((p) => p.metadata.name);

/** What the store sent during `fn`. */
async function requestsDuring<T>(store: S3PolicyStore, fn: () => Promise<T>): Promise<{ list: number; get: number; result: T }> {
  const before = store.requests;
  const result = await fn();
  const after = store.requests;
  return { list: after.list - before.list, get: after.get - before.get, result };
}

describe('S3PolicyStore against s3rver', () => {
  let s3: TestS3;
  before(async () => {
    s3 = await startS3();
    await s3.bucket(BUCKET);
  });
  after(() => s3.stop());

  describe('a prefix loaded cold, then warm', () => {
    let store: S3PolicyStore;
    before(async () => {
      await s3.put(BUCKET, 'team/a.yaml', policy('a'));
      await s3.put(BUCKET, 'team/nested/b.yml', policy('b', 'ghcr.io/**'));
      await s3.put(BUCKET, 'team/c.JSON', jsonPolicy('c'));
      await s3.put(BUCKET, 'team/README.md', '# not a policy');
      await s3.put(BUCKET, 'team/.github/workflows/ci.yml', 'on: push');
      // Shares the characters of the prefix but is not under the folder.
      await s3.put(BUCKET, 'team-old/d.yaml', policy('d'));
      let clock = 100;
      store = new S3PolicyStore(s3.client, BUCKET, 'team/', { now: () => (clock += 7) });
    });

    it('lists and GETs every policy file under the prefix, nested keys included, other keys ignored', async () => {
      const { list, get, result: set } = await requestsDuring(store, () => store.load());
      assert.deepEqual({ list, get }, { list: 1, get: 3 });
      assert.deepEqual(names(set), ['a', 'c', 'b']); // file order: team/a.yaml, team/c.JSON, team/nested/b.yml
      assert.deepEqual(set.versions, {
        [`s3://${BUCKET}/team/a.yaml`]: md5(policy('a')),
        [`s3://${BUCKET}/team/c.JSON`]: md5(jsonPolicy('c')),
        [`s3://${BUCKET}/team/nested/b.yml`]: md5(policy('b', 'ghcr.io/**')),
      });
      assert.deepEqual(set.policies[0]!.origin, { file: `s3://${BUCKET}/team/a.yaml`, index: 0, version: md5(policy('a')) });
      assert.deepEqual(set.problems, []);
      assert.deepEqual(store.lastLoad, { list: 1, get: 3, objects: 3, cached: 0, ms: 7 });
    });

    it('re-lists but GETs nothing when no ETag changed', async () => {
      const { list, get, result: set } = await requestsDuring(store, () => store.load());
      assert.deepEqual({ list, get }, { list: 1, get: 0 });
      assert.deepEqual(names(set), ['a', 'c', 'b']);
      assert.equal(store.lastLoad?.cached, 3);
    });

    it('GETs again only the object that changed', async () => {
      await s3.put(BUCKET, 'team/nested/b.yml', policy('b2'));
      const { list, get, result: set } = await requestsDuring(store, () => store.load());
      assert.deepEqual({ list, get }, { list: 1, get: 1 });
      assert.deepEqual(names(set), ['a', 'c', 'b2']);
      assert.equal(set.versions[`s3://${BUCKET}/team/nested/b.yml`], md5(policy('b2')));
    });

    it('drops an object deleted since the last load', async () => {
      await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'team/a.yaml' }));
      const { list, get, result: set } = await requestsDuring(store, () => store.load());
      assert.deepEqual({ list, get }, { list: 1, get: 0 });
      assert.deepEqual(names(set), ['c', 'b2']);
      assert.deepEqual(Object.keys(set.versions), [`s3://${BUCKET}/team/c.JSON`, `s3://${BUCKET}/team/nested/b.yml`]);
    });
  });

  describe('an invalid policy', () => {
    const bad = policy('bad').replace('action: pass', 'action: maybe');
    const problem = `s3://${BUCKET}/mixed/bad.yaml: ClusterImagePolicy/bad: spec.authorities[0].static.action: invalid value: maybe: unsupported action`;
    before(async () => {
      await s3.put(BUCKET, 'mixed/good.yaml', policy('good'));
      await s3.put(BUCKET, 'mixed/bad.yaml', bad);
    });

    it('refuses the set with POLICY_INVALID naming the s3:// object and the field', async () => {
      await rejectsWith(new S3PolicyStore(s3.client, BUCKET, 'mixed/').load(), 'POLICY_INVALID', problem);
    });

    it('with skipInvalid, loads the rest and reports the problem', async () => {
      const set = await new S3PolicyStore(s3.client, BUCKET, 'mixed/', { skipInvalid: true }).load();
      assert.deepEqual(names(set), ['good']);
      assert.deepEqual(
        set.problems.map((p) => `${p.file}: ${p.document}: ${p.path}: ${p.message}`),
        [problem],
      );
    });
  });

  it('reads no more than one byte past the size limit of an oversized object, and the parser refuses it', async () => {
    await s3.put(BUCKET, 'big/huge.yaml', `# ${'x'.repeat(MAX_FILE_BYTES)}\n`);
    const set = await new S3PolicyStore(s3.client, BUCKET, 'big/', { skipInvalid: true }).load();
    assert.deepEqual(
      set.problems.map((p) => `${p.file}: ${p.message}`),
      [`s3://${BUCKET}/big/huge.yaml: file is larger than ${MAX_FILE_BYTES} bytes, more than Kubernetes accepts in one request`],
    );
  });

  it('fails closed with CONFIG when the prefix holds no policy file', async () => {
    await s3.put(BUCKET, 'typo/notes.txt', 'nothing to see');
    await rejectsWith(
      new S3PolicyStore(s3.client, BUCKET, 'typo/').load(),
      'CONFIG',
      `s3://${BUCKET}/typo/: no policy files (.yaml, .yml, .json) under this prefix (1 other object ignored)`,
    );
    await rejectsWith(
      new S3PolicyStore(s3.client, BUCKET, 'nothing-here/').load(),
      'CONFIG',
      `s3://${BUCKET}/nothing-here/: no policy files (.yaml, .yml, .json) under this prefix`,
    );
  });

  it('reports a missing bucket as CONFIG, naming the bucket, prefix and S3 error code', async () => {
    await rejectsWith(
      new S3PolicyStore(s3.client, 'no-such-bucket', 'policies/').load(),
      'CONFIG',
      's3://no-such-bucket/policies/: no such bucket (NoSuchBucket): The specified bucket does not exist',
    );
  });

  it('opens an s3:// location with the injected client and keeps its cache across loads', async () => {
    await s3.put(BUCKET, 'source/a.yaml', policy('from-s3'));
    let built = 0;
    const source = openPolicySource(`s3://${BUCKET}/source`, { s3: () => (built++, s3.client) });
    assert.deepEqual(names(await source.load()), ['from-s3']);
    assert.deepEqual(names(await source.load()), ['from-s3']);
    assert.equal(built, 1);
  });
});

describe('S3PolicyStore failures (no S3 server needed)', () => {
  const credentials = { accessKeyId: 'AKIAEXAMPLEKEYID', secretAccessKey: 'example-secret-never-printed' };
  const mockedClient = () => {
    const client = new S3Client({ region: 'us-east-1', credentials });
    // Mock this instance only: other tests in the process use real clients.
    return { client, mock: mockClient(client) };
  };
  /** A GetObject body as the SDK gives it in Node: a readable stream. */
  const body = (text: string) => Readable.from([Buffer.from(text)]) as unknown as GetObjectCommandOutput['Body'];
  const denied = () => new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'Access Denied' });

  it('reports access denied on the listing as CONFIG, with the bucket, prefix and code but no credentials', async () => {
    const { client, mock } = mockedClient();
    mock.on(ListObjectsV2Command).rejects(denied());
    const err = await rejectsWith(
      new S3PolicyStore(client, 'acme-policies', 'prod/').load(),
      'CONFIG',
      's3://acme-policies/prod/: access denied (AccessDenied): Access Denied',
    );
    assert.doesNotMatch(err.message, new RegExp(`${credentials.accessKeyId}|${credentials.secretAccessKey}`));
    assert.deepEqual(
      mock.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input),
      [{ Bucket: 'acme-policies', Prefix: 'prod/' }],
    );
  });

  it('reports access denied on an object as CONFIG naming that object', async () => {
    const { client, mock } = mockedClient();
    mock.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'prod/a.yaml', ETag: '"1"', Size: 10 }] });
    mock.on(GetObjectCommand).rejects(denied());
    await rejectsWith(
      new S3PolicyStore(client, 'acme-policies', 'prod/').load(),
      'CONFIG',
      's3://acme-policies/prod/a.yaml: access denied (AccessDenied): Access Denied',
    );
  });

  it('follows the listing across pages and records S3 version ids when the bucket keeps versions', async () => {
    const { client, mock } = mockedClient();
    mock
      .on(ListObjectsV2Command, { ContinuationToken: undefined })
      .resolves({ IsTruncated: true, NextContinuationToken: 'page-2', Contents: [{ Key: 'prod/a.yaml', ETag: '"ea"', Size: 1 }] })
      .on(ListObjectsV2Command, { ContinuationToken: 'page-2' })
      .resolves({ IsTruncated: false, Contents: [{ Key: 'prod/b.yaml', ETag: '"eb"', Size: 1 }] });
    mock
      .on(GetObjectCommand, { Key: 'prod/a.yaml' })
      .callsFake(() => ({ Body: body(policy('a')), ETag: '"ea"', VersionId: 'v-a' }))
      .on(GetObjectCommand, { Key: 'prod/b.yaml' })
      .callsFake(() => ({ Body: body(policy('b')), ETag: '"eb"', VersionId: 'v-b' }));

    const store = new S3PolicyStore(client, 'acme-policies', 'prod/');
    const set = await store.load();
    assert.deepEqual(names(set), ['a', 'b']);
    assert.deepEqual(set.versions, { 's3://acme-policies/prod/a.yaml': 'v-a', 's3://acme-policies/prod/b.yaml': 'v-b' });
    assert.deepEqual(store.requests, { list: 2, get: 2 });
    assert.deepEqual(
      mock.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input),
      [
        { Bucket: 'acme-policies', Prefix: 'prod/' },
        { Bucket: 'acme-policies', Prefix: 'prod/', ContinuationToken: 'page-2' },
      ],
    );
  });

  it('asks for one byte past the size limit of an object listed as larger', async () => {
    const { client, mock } = mockedClient();
    mock.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'prod/huge.yaml', ETag: '"e"', Size: MAX_FILE_BYTES + 10 }] });
    mock.on(GetObjectCommand).callsFake(() => ({ Body: body('x'.repeat(MAX_FILE_BYTES + 1)), ETag: '"e"' }));
    await new S3PolicyStore(client, 'acme-policies', 'prod/', { skipInvalid: true }).load();
    assert.deepEqual(
      mock.commandCalls(GetObjectCommand).map((c) => c.args[0].input),
      [{ Bucket: 'acme-policies', Key: 'prod/huge.yaml', Range: `bytes=0-${MAX_FILE_BYTES}` }],
    );
  });

  it('keeps at most 8 GETs in flight', async () => {
    const { client, mock } = mockedClient();
    const keys = Array.from({ length: 20 }, (_, i) => `prod/p${String(i).padStart(2, '0')}.yaml`);
    mock.on(ListObjectsV2Command).resolves({ Contents: keys.map((Key) => ({ Key, ETag: `"${Key}"`, Size: 100 })) });
    let inFlight = 0;
    let most = 0;
    mock.on(GetObjectCommand).callsFake(async (input: { Key: string }) => {
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      return { Body: body(policy(input.Key.slice(5, 8))), ETag: `"${input.Key}"` };
    });
    const set = await new S3PolicyStore(client, 'acme-policies', 'prod/').load();
    assert.equal(set.policies.length, 20);
    assert.equal(most, 8);
  });

  it('reports an unreachable endpoint as CONFIG with the socket error', async () => {
    // A port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const client = testS3Client(`http://127.0.0.1:${port}`, { maxAttempts: 1 });
    await rejectsWith(
      new S3PolicyStore(client, 'acme-policies', 'prod/').load(),
      'CONFIG',
      `s3://acme-policies/prod/: S3 unreachable (ECONNREFUSED): connect ECONNREFUSED 127.0.0.1:${port}`,
    );
    client.destroy();
  });
});

describe('parsePolicyLocation', () => {
  it('reads s3:// locations, the part after the bucket as a folder', () => {
    assert.deepEqual(parsePolicyLocation('s3://acme-policies/prod/'), { kind: 's3', bucket: 'acme-policies', prefix: 'prod/' });
    assert.deepEqual(parsePolicyLocation('s3://acme-policies/prod'), { kind: 's3', bucket: 'acme-policies', prefix: 'prod/' });
    assert.deepEqual(parsePolicyLocation('s3://acme-policies/teams/a'), { kind: 's3', bucket: 'acme-policies', prefix: 'teams/a/' });
    assert.deepEqual(parsePolicyLocation('s3://acme-policies'), { kind: 's3', bucket: 'acme-policies', prefix: '' });
    assert.deepEqual(parsePolicyLocation('s3://acme-policies/'), { kind: 's3', bucket: 'acme-policies', prefix: '' });
    assert.deepEqual(parsePolicyLocation('S3://acme.policies-2/x/'), { kind: 's3', bucket: 'acme.policies-2', prefix: 'x/' });
  });

  it('reads anything without a scheme as a file or folder', () => {
    assert.deepEqual(parsePolicyLocation('./policies'), { kind: 'folder', path: './policies' });
    assert.deepEqual(parsePolicyLocation('/etc/sigwatch/policy.yaml'), { kind: 'folder', path: '/etc/sigwatch/policy.yaml' });
    assert.deepEqual(parsePolicyLocation('s3-policies/prod'), { kind: 'folder', path: 's3-policies/prod' });
  });

  const refused: [string, string][] = [
    ['', 'the policy location is empty: give a file, a folder or s3://BUCKET/PREFIX/'],
    ['s3://', 'policy location s3://: names no bucket (expected s3://BUCKET/PREFIX/)'],
    ['s3:///prod', 'policy location s3:///prod: names no bucket (expected s3://BUCKET/PREFIX/)'],
    [
      's3://ab/prod',
      'policy location s3://ab/prod: "ab" is not an S3 bucket name: 3 to 63 lower-case letters, digits, dots and hyphens, beginning and ending with a letter or digit',
    ],
    [
      's3://Acme_Policies/prod',
      'policy location s3://Acme_Policies/prod: "Acme_Policies" is not an S3 bucket name: 3 to 63 lower-case letters, digits, dots and hyphens, beginning and ending with a letter or digit',
    ],
    [
      `s3://${'a'.repeat(64)}`,
      `policy location s3://${'a'.repeat(64)}: "${'a'.repeat(64)}" is not an S3 bucket name: 3 to 63 lower-case letters, digits, dots and hyphens, beginning and ending with a letter or digit`,
    ],
    [
      's3://acme-/prod',
      'policy location s3://acme-/prod: "acme-" is not an S3 bucket name: 3 to 63 lower-case letters, digits, dots and hyphens, beginning and ending with a letter or digit',
    ],
    ['s3://acme..policies/prod', 'policy location s3://acme..policies/prod: "acme..policies" is not an S3 bucket name: two dots in a row'],
    ['s3://192.168.1.10/prod', 'policy location s3://192.168.1.10/prod: "192.168.1.10" is not an S3 bucket name: it has the form of an IP address'],
    ['gs://acme-policies/prod', 'policy location gs://acme-policies/prod: gs:// is not supported; give a file, a folder or s3://BUCKET/PREFIX/'],
  ];
  for (const [spec, message] of refused) {
    it(`refuses ${JSON.stringify(spec)} with CONFIG`, () => {
      assert.throws(() => parsePolicyLocation(spec), { name: 'SigwatchError', code: 'CONFIG', message });
    });
  }
});

describe('openPolicySource', () => {
  it('loads a folder without building an S3 client', async () => {
    const folder = fileURLToPath(new URL('../fixtures/policies/set', import.meta.url));
    const source = openPolicySource(folder, {
      s3: () => {
        throw new Error('no S3 client for a folder');
      },
    });
    const set = await source.load();
    assert.ok(set.policies.length > 0);
    assert.ok(Object.keys(set.versions).every((file) => file.startsWith(folder)));
  });
});
