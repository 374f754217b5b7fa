import assert from 'node:assert/strict';
import { testNow } from '../support/clock.ts';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { matchCommand, validateCommand } from '../../src/cli/policy.ts';
import { run, type Io } from '../../src/cli/main.ts';
import { SigwatchError } from '../../src/errors.ts';
import { parsePolicyDocuments } from '../../src/policy/parse.ts';
import { loadPolicyPath } from '../../src/store/folder.ts';
import { buildPolicySet, policiesMatching } from '../../src/store/policy-set.ts';
import { staticPolicyYaml } from '../support/samples.ts';

const fixture = (path: string) => fileURLToPath(new URL(`../fixtures/policies/${path}`, import.meta.url));
const SET = fixture('set');

function capture(): Io & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (s) => out.push(s), stderr: (s) => err.push(s), now: testNow };
}

const scratch = mkdtempSync(join(tmpdir(), 'sigwatch-policy-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let folders = 0;
/** A fresh folder holding these files. */
function folder(files: Record<string, string>): string {
  const dir = join(scratch, `set-${folders++}`);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const policy = staticPolicyYaml;

describe('sigwatch policy validate', () => {
  it('exits 0 and summarises a valid folder (read recursively, dot-names and other files skipped)', async () => {
    const io = capture();
    assert.equal(await validateCommand([SET], io), 0);
    assert.deepEqual(io.err, []);
    assert.deepEqual(io.out, ['valid: 3 ClusterImagePolicies, 1 TrustRoot in 3 files']);
  });

  it('exits 2 with one line per problem: FILE: KIND/NAME: PATH: MESSAGE', async () => {
    const io = capture();
    const file = fixture('invalid/keyless-one-of-both.yaml');
    assert.equal(await validateCommand([file], io), 2);
    assert.deepEqual(io.err, [
      `${file}: ClusterImagePolicy/keyless-one-of-both: spec.authorities[0].keyless.ca-cert, spec.authorities[0].keyless.url: expected exactly one, got both`,
    ]);
    assert.deepEqual(io.out, []);
  });

  it('prints warnings without failing', async () => {
    const io = capture();
    const file = fixture('invalid/identity-regexp-unanchored.yaml');
    assert.equal(await validateCommand([file, fixture('valid/mode.yaml')], io), 0);
    assert.equal(io.err.length, 1);
    assert.match(
      io.err[0]!,
      /: ClusterImagePolicy\/identity-regexp-unanchored: spec\.authorities\[0\]\.keyless\.identities\[0\]\.subjectRegExp: warning: sigwatch: /,
    );
    assert.deepEqual(io.out, ['valid: 2 ClusterImagePolicies, 0 TrustRoots in 2 files']);
  });

  it('checks all PATHs as one set: names unique, trustRootRefs resolved', async () => {
    const a = folder({ 'a.yaml': policy('same') });
    const b = folder({ 'b.yaml': policy('same') });
    const io = capture();
    assert.equal(await validateCommand([a, b, join(SET, 'team-b')], io), 2);
    assert.deepEqual(io.err, [
      `${join(b, 'b.yaml')}: ClusterImagePolicy/same: metadata.name: duplicate name: ClusterImagePolicy "same" is already defined in ${join(a, 'a.yaml')} (document 1)`,
      `${join(SET, 'team-b', 'keyless.yml')}: ClusterImagePolicy/team-b-keyless: spec.authorities[0].keyless.trustRootRef: no TrustRoot named "corp-root" is loaded`,
    ]);
  });

  it('is a usage error without PATH, a configuration error for a missing one, and refuses an empty folder', async () => {
    await assert.rejects(validateCommand([], capture()), { code: 'USAGE' });
    await assert.rejects(validateCommand([join(scratch, 'missing')], capture()), (err: SigwatchError) => {
      assert.equal(err.code, 'CONFIG');
      assert.match(err.message, /^cannot read policies at .*missing: no such file or folder$/);
      return true;
    });
    const io = capture();
    assert.equal(await run(['policy', 'validate', join(scratch, 'missing')], io), 2);
    assert.match(io.err[0]!, /^sigwatch: cannot read policies at /);
    const empty = capture();
    assert.equal(await validateCommand([folder({ 'notes.txt': 'no policies here' })], empty), 2);
    assert.match(empty.err[0]!, /no ClusterImagePolicy or TrustRoot in /);
  });

  it('has --help', async () => {
    const io = capture();
    assert.equal(await validateCommand(['--help'], io), 0);
    assert.match(io.out[0]!, /^usage: sigwatch policy validate PATH\.\.\./);
  });
});

describe('sigwatch policy match', () => {
  const images = ['busybox', 'ghcr.io/example/team-b/app:1', 'registry.example.com:8443/team-b/x/y', 'quay.io/x'];

  it('prints one JSON object per IMAGE with sorted policy names', async () => {
    const io = capture();
    assert.equal(await matchCommand([...images, '--policies', SET, '--format', 'json'], io), 0);
    assert.deepEqual(
      io.out.map((l) => JSON.parse(l)),
      [
        { image: 'busybox', normalized: 'index.docker.io/library/busybox:latest', policies: ['hub-official'] },
        { image: 'ghcr.io/example/team-b/app:1', normalized: 'ghcr.io/example/team-b/app:1', policies: ['release-signed', 'team-b-keyless'] },
        { image: 'registry.example.com:8443/team-b/x/y', normalized: 'registry.example.com:8443/team-b/x/y:latest', policies: ['team-b-keyless'] },
        { image: 'quay.io/x', normalized: 'quay.io/x:latest', policies: [] },
      ],
    );
    assert.deepEqual(io.err, []);
  });

  it('prints readable text by default', async () => {
    const io = capture();
    assert.equal(await matchCommand(['--policies', SET, 'busybox', 'quay.io/x'], io), 0);
    assert.deepEqual(io.out, ['busybox (index.docker.io/library/busybox:latest): hub-official', 'quay.io/x (quay.io/x:latest): no policy matches']);
  });

  it('matches oci: layouts as written', async () => {
    const io = capture();
    const policies = folder({ 'all.yaml': policy('everything') });
    assert.equal(await matchCommand(['oci:./build/layout:v1', '--policies', policies, '--format', 'json'], io), 0);
    assert.deepEqual(JSON.parse(io.out[0]!), { image: 'oci:./build/layout:v1', normalized: 'oci:./build/layout:v1', policies: ['everything'] });
  });

  it('refuses invalid policies unless --skip-invalid, printing their problems', async () => {
    const dir = folder({ 'good.yaml': policy('good'), 'bad.yaml': policy('bad').replace('pass', 'allow') });
    const problem = `${join(dir, 'bad.yaml')}: ClusterImagePolicy/bad: spec.authorities[0].static.action: invalid value: allow: unsupported action`;
    const strict = capture();
    assert.equal(await matchCommand(['busybox', '--policies', dir], strict), 2);
    assert.deepEqual(strict.err, [problem]);
    assert.deepEqual(strict.out, []);
    const lenient = capture();
    assert.equal(await matchCommand(['busybox', '--policies', dir, '--skip-invalid'], lenient), 0);
    assert.deepEqual(lenient.err, [problem]);
    assert.deepEqual(lenient.out, ['busybox (index.docker.io/library/busybox:latest): good']);
  });

  it('reports usage errors before any output', async () => {
    await assert.rejects(matchCommand(['busybox', 'Not/A/Ref', '--policies', SET], capture()), {
      code: 'USAGE',
      message: /^policy match: could not parse reference: Not\/A\/Ref/,
    });
    await assert.rejects(matchCommand(['busybox'], capture()), { code: 'USAGE', message: /needs --policies PATH/ });
    await assert.rejects(matchCommand(['--policies', SET], capture()), { code: 'USAGE', message: /needs at least one IMAGE/ });
    await assert.rejects(matchCommand(['busybox', '--policies', SET, '--format', 'yaml'], capture()), { code: 'USAGE' });
    const io = capture();
    assert.equal(await run(['policy', 'match', 'busybox', '--bogus'], io), 2);
  });

  it('has --help', async () => {
    const io = capture();
    assert.equal(await matchCommand(['-h'], io), 0);
    assert.match(io.out[0]!, /^usage: sigwatch policy match IMAGE\.\.\. --policies PATH/);
  });
});

describe('policy sets (store)', () => {
  it('loads a folder with a version (content hash) per file', async () => {
    const set = await loadPolicyPath(SET);
    assert.deepEqual(set.problems, []);
    assert.deepEqual(
      set.policies.map((p) => p.metadata.name),
      ['release-signed', 'hub-official', 'team-b-keyless'],
    );
    assert.deepEqual(
      set.trustRoots.map((t) => t.metadata.name),
      ['corp-root'],
    );
    const file = join(SET, 'team-a', 'release.yaml');
    assert.equal(set.versions[file], `sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}`);
    assert.equal(set.policies[0]?.origin.version, set.versions[file]);
    assert.equal(Object.keys(set.versions).length, 3);
  });

  it('fails closed with every problem line, or drops the bad documents with skipInvalid', async () => {
    const dir = folder({ 'a.yaml': `${policy('ok')}---\n${policy('broken', '[')}`, 'b.yaml': policy('ok') });
    await assert.rejects(loadPolicyPath(dir), (err: SigwatchError) => {
      assert.equal(err.code, 'POLICY_INVALID');
      assert.deepEqual(err.message.split('\n'), [
        `${join(dir, 'a.yaml')}: ClusterImagePolicy/broken: spec.images[0].glob: invalid value: [: glob is invalid: syntax error in pattern`,
        `${join(dir, 'b.yaml')}: ClusterImagePolicy/ok: metadata.name: duplicate name: ClusterImagePolicy "ok" is already defined in ${join(dir, 'a.yaml')} (document 1)`,
      ]);
      return true;
    });
    const set = await loadPolicyPath(dir, { skipInvalid: true });
    assert.deepEqual(
      set.policies.map((p) => `${p.metadata.name}@${p.origin.file}`),
      [`ok@${join(dir, 'a.yaml')}`],
    );
    assert.equal(set.problems.length, 2);
  });

  it('takes a single file of any name, and survives symlink loops', async () => {
    const dir = folder({ 'policy.txt': policy('plain-text') });
    assert.deepEqual(
      (await loadPolicyPath(join(dir, 'policy.txt'))).policies.map((p) => p.metadata.name),
      ['plain-text'],
    );
    const looped = folder({ 'sub/p.yaml': policy('looped') });
    symlinkSync(looped, join(looped, 'sub', 'back'));
    assert.deepEqual(
      (await loadPolicyPath(looped)).policies.map((p) => p.metadata.name),
      ['looped'],
    );
  });

  it('builds sets from any store, keeping given versions', () => {
    const set = buildPolicySet([
      { file: 's3://bucket/b.yaml', text: policy('b'), version: 'v2' },
      { file: 's3://bucket/a.yaml', text: policy('a'), version: 'v1' },
    ]);
    assert.deepEqual(set.versions, { 's3://bucket/a.yaml': 'v1', 's3://bucket/b.yaml': 'v2' });
    assert.deepEqual(
      set.policies.map((p) => p.metadata.name),
      ['a', 'b'],
    );
  });
});

describe('policiesMatching', () => {
  const set = buildPolicySet([
    {
      file: 'p.yaml',
      text: [
        policy('hub-official', 'index.docker.io/library/*'),
        policy('by-tag', 'ghcr.io/org/app:v1'),
        policy('by-repo', 'ghcr.io/org/app*'),
        policy('short', 'busybox'),
      ].join('---\n'),
    },
  ]);
  const names = (image: string, literal = false) => policiesMatching(set, image, { literal }).map((p) => p.metadata.name);
  const DIGEST = 'sha256:5504f2a95018e3d8a52d80d9e1a128c6ea337581808ff9fe96f5628ce2336350';

  it('matches the full reference name, as the admission webhook does', () => {
    assert.deepEqual(names('busybox'), ['hub-official']); // `busybox` as a glob never matches at admission
    assert.deepEqual(names('ghcr.io/org/app:v1'), ['by-tag', 'by-repo']);
    // At admission the tag is pinned to its digest first, and the name matched is repo@digest.
    assert.deepEqual(names(`ghcr.io/org/app:v1@${DIGEST}`), ['by-repo']);
  });

  it('matches the string as written when literal', () => {
    assert.deepEqual(names('busybox', true), ['short']);
  });

  it('throws for an image that is not a reference', () => {
    assert.throws(() => names('Bad Image'), { code: 'REFERENCE_INVALID' });
  });
});

describe('examples/policies', () => {
  const EXAMPLES = fileURLToPath(new URL('../../examples/policies/', import.meta.url));
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'));
  /** What each example is expected to draw; the others validate without any finding. */
  const WARNINGS: Record<string, string[]> = {
    'match-labelled-workloads.yaml': [
      'spec.match: warning: sigwatch: checks images, not Kubernetes resources: match is not applied, so this policy covers every image its globs match',
    ],
    'sbom-signed-with-key.yaml': [
      'spec.authorities[0].attestations.predicateType: warning: invalid value: spdxjson: deprecated value, please use RFC 3986 conformant values (in attestations[0])',
    ],
  };

  it('has every example the warnings table names', () => {
    assert.deepEqual(
      Object.keys(WARNINGS).filter((name) => !files.includes(name)),
      [],
    );
  });

  for (const name of files) {
    it(`${name} validates, with exactly the warnings expected`, () => {
      const text = readFileSync(join(EXAMPLES, name), 'utf8');
      const parsed = parsePolicyDocuments(text, { file: name });
      assert.deepEqual(
        parsed.problems.map((p) => `${p.path}: ${p.severity}: ${p.message}`),
        WARNINGS[name] ?? [],
      );
      assert.equal(parsed.policies.length + parsed.trustRoots.length, text.match(/^kind: /gm)?.length);
    });
  }

  it('form one policy set: names unique, every trustRootRef resolved', async () => {
    const io = capture();
    assert.equal(await validateCommand([EXAMPLES], io), 0);
    assert.deepEqual(io.out, [`valid: 12 ClusterImagePolicies, 1 TrustRoot in ${files.length} files`]);
    assert.equal(io.err.length, Object.values(WARNINGS).flat().length);
  });

  it('refuses the AWS KMS template until its {{placeholders}} are filled in, as upstream does', () => {
    const name = 'aws-kms-key.yaml';
    const template = readFileSync(fixture(`templates/${name}`), 'utf8');
    assert.deepEqual(
      parsePolicyDocuments(template, { file: name }).problems.map((p) => p.path),
      ['spec.authorities[0].key.kms'],
    );
    const filled = template
      .replaceAll('{{REGION}}', 'eu-west-1')
      .replaceAll('{{ACCOUNT}}', '111122223333')
      .replaceAll('{{KEY_ID}}', '1234abcd-12ab-34cd-56ef-1234567890ab');
    assert.deepEqual(parsePolicyDocuments(filled, { file: name }).problems, []);
  });
});
