import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { COMMANDS } from '../../src/cli/commands.ts';
import { VERSION } from '../../src/cli/main.ts';
import { cliReference } from '../../src/cli/reference.ts';
import { helpText, nearest } from '../../src/cli/spec.ts';
import { buildSamples, generateKeyPair, keyPolicyYaml, pushSamples, startRegistry, type TestRegistry } from '../support/index.ts';
import { sigwatch } from '../support/cli.ts';
import { ecrImageAction } from '../support/events.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'sigwatch-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));

describe('docs/cli.md', () => {
  it('is what the commands’ own definitions generate (run node scripts/cli-docs.ts after changing one)', () => {
    assert.equal(readFileSync(join(ROOT, 'docs/cli.md'), 'utf8'), cliReference());
  });

  it('lists every option each parser takes, and each --help prints them', async () => {
    const doc = readFileSync(join(ROOT, 'docs/cli.md'), 'utf8');
    for (const spec of COMMANDS) {
      const help = await sigwatch(...spec.name.split(' '), '--help');
      assert.equal(help.code, 0, spec.name);
      assert.equal(help.stdout.trimEnd(), helpText(spec));
      for (const name of Object.keys(spec.options)) {
        assert.match(help.stdout, new RegExp(`--${name}\\b`), `${spec.name} --help shows --${name}`);
        assert.ok(doc.includes(`\`--${name}`), `docs/cli.md has ${spec.name} --${name}`);
      }
    }
  });

  it('is where the README points for the CLI, and the README names no file the repository lacks', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    assert.match(readme, /\(docs\/cli\.md\)/);
    for (const [, target] of readme.matchAll(/\]\(((?!https?:|#)[^)#\s]+)/g)) {
      assert.doesNotThrow(() => readFileSync(join(ROOT, target!)), `README links ${target}`);
    }
  });
});

describe('sigwatch --version', () => {
  it('prints the package version and exits 0', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(VERSION, pkg.version);
    const r = await sigwatch('--version');
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${pkg.version}\n`);
  });
});

describe('unknown options and commands', () => {
  it('says the command’s own message with the nearest option, exit 2', async () => {
    const cases: [string[], string][] = [
      [
        ['verify', 'x/y:z', '--polices', 'p'],
        "sigwatch: verify: unknown option --polices; did you mean --policies? ('sigwatch verify --help' lists its options)\n",
      ],
      [
        ['invoke', 'e.json', '--pull-secret', 'd'],
        "sigwatch: invoke: unknown option --pull-secret; did you mean --pull-secrets? ('sigwatch invoke --help' lists its options)\n",
      ],
      [
        ['policy', 'match', 'x', '--polciies', 'p'],
        "sigwatch: policy match: unknown option --polciies; did you mean --policies? ('sigwatch policy match --help' lists its options)\n",
      ],
      [
        ['associations', 'check', '--acount', '111122223333'],
        "sigwatch: associations check: unknown option --acount; did you mean --account? ('sigwatch associations check --help' lists its options)\n",
      ],
      [
        ['trust', 'refresh', '--output', 'f'],
        "sigwatch: trust refresh: unknown option --output; did you mean --out? ('sigwatch trust refresh --help' lists its options)\n",
      ],
      [['verify', 'x/y:z', '--frobnicate'], "sigwatch: verify: unknown option --frobnicate ('sigwatch verify --help' lists its options)\n"],
      [['verify', 'x/y:z', '-p', 'x'], "sigwatch: verify: unknown option -p ('sigwatch verify --help' lists its options)\n"],
    ];
    for (const [argv, stderr] of cases) {
      const r = await sigwatch(...argv);
      assert.equal(r.code, 2, argv.join(' '));
      assert.equal(r.stderr, stderr);
    }
  });

  it('says which option needs a value', async () => {
    const r = await sigwatch('verify', 'x/y:z', '--policies');
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'sigwatch: verify: --policies needs a value (--policies PATH|s3://BUCKET/PREFIX)\n');
  });

  it('suggests the command for a typo, and --version for --verison', async () => {
    const typo = await sigwatch('verfy', 'x');
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /^sigwatch: unknown command "verfy"; did you mean verify\?\nusage: sigwatch <command>/);
    const flag = await sigwatch('--verison');
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /^sigwatch: unknown option "--verison"; did you mean --version\?\n/);
    const help = await sigwatch('--hlep');
    assert.match(help.stderr, /^sigwatch: unknown option "--hlep"; did you mean --help\?\n/);
  });

  it('says how to give a value that starts with "-", and takes it so', async () => {
    const r = await sigwatch('verify', 'x/y:z', '--policies', '-not-there');
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'sigwatch: verify: --policies -not-there is ambiguous: write --policies=-not-there for a value that starts with "-"\n');
    const eq = await sigwatch('verify', 'x/y:z', '--policies=-not-there');
    assert.equal(eq.code, 2);
    assert.equal(eq.stderr, 'sigwatch: cannot read policies at -not-there: no such file or folder\n');
  });

  it('nearest: a typo or a prefix, never a far-off name', () => {
    assert.equal(nearest('registry-confg', ['registry-config', 'insecure-registry']), 'registry-config');
    assert.equal(nearest('pull', ['pull-secrets', 'policies']), 'pull-secrets');
    assert.equal(nearest('zzz', ['policies', 'format']), undefined);
  });
});

describe('missing or empty policies: exit 2 for every command, with the path', () => {
  const empty = join(work, 'empty');
  const missing = join(work, 'missing');
  const event = join(work, 'event.json');
  before(() => {
    mkdirSync(join(empty, 'sub'), { recursive: true });
    writeFileSync(join(empty, 'README.md'), 'not a policy');
    writeFileSync(event, JSON.stringify(ecrImageAction('e', { 'image-digest': `sha256:${'a'.repeat(64)}` })));
  });

  it('verify', async () => {
    const e = await sigwatch('verify', 'registry.example.com/a:b', '--policies', empty);
    assert.equal(e.code, 2);
    assert.equal(e.stderr, `sigwatch: no ClusterImagePolicy in ${empty}: nothing to verify against\n`);
    const m = await sigwatch('verify', 'registry.example.com/a:b', '--policies', missing);
    assert.equal(m.code, 2);
    assert.equal(m.stderr, `sigwatch: cannot read policies at ${missing}: no such file or folder\n`);
  });

  it('policy validate and policy match', async () => {
    const v = await sigwatch('policy', 'validate', empty);
    assert.equal(v.code, 2);
    assert.equal(v.stderr, `sigwatch: no ClusterImagePolicy or TrustRoot in ${empty}: nothing to validate\n`);
    const vm = await sigwatch('policy', 'validate', missing);
    assert.equal(vm.code, 2);
    assert.equal(vm.stderr, `sigwatch: cannot read policies at ${missing}: no such file or folder\n`);
    const m = await sigwatch('policy', 'match', 'busybox', '--policies', empty);
    assert.equal(m.code, 2);
    assert.equal(m.stderr, `sigwatch: no ClusterImagePolicy in ${empty}: nothing to verify against\n`);
  });

  it('invoke', async () => {
    const config = join(work, 'local.yaml');
    writeFileSync(config, `policies: ${empty}\n`);
    const r = await sigwatch('invoke', event, '--config', config);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `sigwatch: no ClusterImagePolicy in ${empty}: nothing to verify against\n`);
  });
});

describe('--insecure-registry', () => {
  let reg: TestRegistry;
  const key = generateKeyPair();
  const samples = buildSamples({ dockerReference: 'x/team/app', key: key.privateKey, otherKey: generateKeyPair().privateKey });
  const policy = join(work, 'release.yaml');
  before(async () => {
    reg = await startRegistry();
    await pushSamples(reg, 'team/app', samples);
    writeFileSync(policy, keyPolicyYaml('release', '**', key.publicKeyPem));
  });
  after(() => reg?.stop());

  it('takes http://HOST:PORT as HOST:PORT', async () => {
    const r = await sigwatch('verify', `${reg.host}/team/app:signed`, '--policies', policy, '--insecure-registry', `http://${reg.host}/`, '--format', 'json');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.json().verdict, 'admit');
  });

  it('refuses an https URL or what is not a host, before any request', async () => {
    const https = await sigwatch('verify', `${reg.host}/team/app:signed`, '--policies', policy, '--insecure-registry', `https://${reg.host}`);
    assert.equal(https.code, 2);
    assert.equal(
      https.stderr,
      `sigwatch: --insecure-registry https://${reg.host}: an https:// registry is not insecure; give HOST:PORT of a registry that speaks plain HTTP\n`,
    );
    const path = await sigwatch('verify', `${reg.host}/team/app:signed`, '--policies', policy, '--insecure-registry', `${reg.host}/team`);
    assert.equal(path.code, 2);
    assert.equal(
      path.stderr,
      `sigwatch: --insecure-registry ${reg.host}/team: expected HOST[:PORT] (as in the image reference, e.g. 127.0.0.1:5000), or http://HOST[:PORT]\n`,
    );
  });

  it('suggests the flag when TLS meets a plain-HTTP registry', async () => {
    const r = await sigwatch('verify', `${reg.host}/team/app:signed`, '--policies', policy, '--format', 'json');
    assert.equal(r.code, 1);
    assert.match(
      r.json().reasons[0]!,
      new RegExp(
        `the server may speak plain HTTP; if it is a local test registry, name it insecure \\(--insecure-registry ${reg.host.replaceAll('.', '\\.')}, or registries\\.insecure in a local config\\)$`,
      ),
    );
  });
});

describe('docs that name the code', () => {
  it('docs/accounts.md’s example is the acme fixture', async () => {
    const { parseConfig } = await import('../../src/accounts/config.ts');
    const doc = readFileSync(join(ROOT, 'docs/accounts.md'), 'utf8');
    const example = /```yaml\n([\s\S]*?)```/.exec(doc)![1]!;
    const fromDoc = parseConfig(example);
    const fromFixture = parseConfig(readFileSync(join(ROOT, 'test/fixtures/accounts/acme.yaml'), 'utf8'));
    assert.ok(fromDoc.ok && fromFixture.ok);
    assert.deepEqual(fromDoc.config, fromFixture.config);
  });

  it('docs/registries.md no longer says ECR is not wired', () => {
    const doc = readFileSync(join(ROOT, 'docs/registries.md'), 'utf8');
    assert.doesNotMatch(doc, /separate change|reads ECR anonymously/);
  });
});

describe('bin/sigwatch on an old Node', () => {
  it('says which Node it needs, in one message and no stack trace', async () => {
    const { nodeProblem } = (await import(join(ROOT, 'bin/node-version.mjs'))) as { nodeProblem: (version: string, engines: string) => string | undefined };
    const engines = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    assert.equal(engines, '>=22.22.2');
    assert.equal(
      nodeProblem('v20.20.2', engines),
      'sigwatch needs Node.js 22.22.2 or newer; this is Node.js 20.20.2.\nRun it as `npx sigwatch …` in the project after `npm ci` (which installs Node 22 for npm and npx), or install Node 22.',
    );
    assert.match(nodeProblem('22.18.0', engines)!, /needs Node\.js 22\.22\.2 or newer; this is Node\.js 22\.18\.0/);
    for (const ok of ['22.22.2', 'v22.23.3', '24.0.0', '26.1.0']) assert.equal(nodeProblem(ok, engines), undefined, ok);
  });

  it('runs the CLI on this Node', async () => {
    const { execFileSync } = await import('node:child_process');
    assert.equal(execFileSync(process.execPath, [join(ROOT, 'bin/sigwatch.mjs'), '--version'], { encoding: 'utf8' }), `${VERSION}\n`);
  });
});
