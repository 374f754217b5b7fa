import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildSamples,
  generateKeyPair,
  keyPolicyYaml,
  pushSamples,
  startRegistry,
  writeSamplesLayout,
  type Sample,
  type TestRegistry,
} from '../support/index.ts';
import { sigwatch } from '../support/cli.ts';

const key = generateKeyPair();
const otherKey = generateKeyPair();
const work = mkdtempSync(join(tmpdir(), 'sigwatch-verify-'));
const samples: Sample[] = buildSamples({ dockerReference: 'registry.example.com/team/app', key: key.privateKey, otherKey: otherKey.privateKey });
const sample = (tag: string) => samples.find((s) => s.tag === tag)!;

before(() => {
  writeFileSync(join(work, 'policy.yaml'), keyPolicyYaml('require-release-key', '**', key.publicKeyPem));
});
after(() => rmSync(work, { recursive: true, force: true }));

/** The same checks, whatever holds the images. */
function verdictChecks(name: string, setup: () => Promise<{ ref: (tag: string) => string; args: string[] }>) {
  describe(name, () => {
    let ref: (tag: string) => string;
    let args: string[];
    before(async () => {
      ({ ref, args } = await setup());
    });
    const verify = (tag: string, ...extra: string[]) => sigwatch('verify', ref(tag), '--policies', join(work, 'policy.yaml'), ...args, ...extra);

    it('admits a signed image (exit 0) and names the signature', async () => {
      const r = await verify('signed', '--format', 'json');
      assert.equal(r.code, 0, r.stderr);
      const v = r.json();
      assert.equal(v.verdict, 'admit');
      assert.equal(v.digest, sample('signed').image.digest);
      const [policy] = v.policies;
      assert.equal(policy?.name, 'require-release-key');
      const [authority] = policy.authorities;
      assert.equal(authority?.verdict, 'pass');
      assert.equal(authority.signatures.length, 1);
      assert.match(authority.signatures[0]!.digest, /^sha256:/);
    });

    it('verifies as of --at (an RFC 3339 time with a zone) as it does now', async () => {
      const r = await verify('signed', '--format', 'json', '--at', '2031-06-30T12:00:00+02:00');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.json().verdict, 'admit');
    });

    it('denies an unsigned image with "no signatures"', async () => {
      const r = await verify('unsigned', '--format', 'json');
      assert.equal(r.code, 1);
      assert.equal(r.json().verdict, 'deny');
      const digest = r.json().digest.replace(':', '-');
      // Where it looked: the .sig tag and the referrers, in the image's own repository.
      assert.match(
        r.json().reasons[0]!,
        new RegExp(
          `no signatures found in (127\\.0\\.0\\.1:\\d+/team/app|oci:\\S+/layout) \\(looked for tag ${digest}\\.sig and for bundles among the referrers of ${r.json().digest}\\)$`,
        ),
      );
    });

    it('denies a signature made with another key', async () => {
      const r = await verify('wrong-key', '--format', 'json');
      assert.equal(r.code, 1);
      assert.match(r.json().reasons[0]!, /does not verify with the authority's key/);
    });

    it("denies another image's signature copied onto this one (digest mismatch)", async () => {
      const r = await verify('copied', '--format', 'json');
      assert.equal(r.code, 1);
      assert.match(r.json().reasons[0]!, new RegExp(`signs ${sample('signed').image.digest}, not this image`));
    });

    it('denies a payload changed after signing', async () => {
      const r = await verify('tampered', '--format', 'json');
      assert.equal(r.code, 1);
      assert.match(r.json().reasons[0]!, /does not verify/);
    });

    it('verifies by digest as by tag', async () => {
      const r = await sigwatch(
        'verify',
        ref('signed').replace(/:signed$/, `@${sample('signed').image.digest}`),
        '--policies',
        join(work, 'policy.yaml'),
        ...args,
      );
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^ADMIT /);
    });

    it('exits 2 on an unreadable policy path, verifying nothing', async () => {
      const r = await sigwatch('verify', ref('signed'), '--policies', join(work, 'missing.yaml'), ...args);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /missing\.yaml/);
    });

    it('exits 2 on an invalid policy', async () => {
      const bad = join(work, `bad-${name.replace(/\W/g, '')}.yaml`);
      writeFileSync(
        bad,
        'apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: x}\nspec: {images: [{glob: "**"}], authorities: [{name: a}]}\n',
      );
      const r = await sigwatch('verify', ref('signed'), '--policies', bad, ...args);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /spec\.authorities\[0\]/);
    });
  });
}

let anonymous: TestRegistry;
let basic: TestRegistry;
after(async () => {
  await anonymous?.stop();
  await basic?.stop();
});

verdictChecks('a registry without auth', async () => {
  anonymous = await startRegistry();
  await pushSamples(anonymous, 'team/app', samples);
  return { ref: (tag) => `${anonymous.host}/team/app:${tag}`, args: ['--insecure-registry', anonymous.host] };
});

verdictChecks('a registry with Basic auth and a Docker config', async () => {
  basic = await startRegistry({ auth: { username: 'ci', password: 's3cret-pw' } });
  await pushSamples(basic, 'team/app', samples);
  const config = join(work, 'config.json');
  writeFileSync(config, JSON.stringify({ auths: { [basic.host]: { auth: Buffer.from('ci:s3cret-pw').toString('base64') } } }));
  return { ref: (tag) => `${basic.host}/team/app:${tag}`, args: ['--insecure-registry', basic.host, '--registry-config', config] };
});

verdictChecks('an OCI image layout', async () => {
  const dir = join(work, 'layout');
  await writeSamplesLayout(dir, samples);
  return { ref: (tag) => `oci:${dir}:${tag}`, args: [] };
});

describe('which policies apply', () => {
  const policyFor = (glob: string) => {
    const file = join(work, `glob-${glob.replace(/\W/g, '_')}.yaml`);
    writeFileSync(file, keyPolicyYaml('scoped', glob, key.publicKeyPem));
    return file;
  };

  it('matches globs against the digest-pinned name, as the admission webhook does', async () => {
    const byRepo = await sigwatch(
      'verify',
      `${anonymous.host}/team/app:unsigned`,
      '--policies',
      policyFor(`${anonymous.host}/team/*`),
      '--insecure-registry',
      anonymous.host,
      '--format',
      'json',
    );
    assert.equal(byRepo.json().policies[0]?.name, 'scoped');
    // A tag glob never applies in a cluster (images are pinned before validation): nor here.
    const byTag = await sigwatch(
      'verify',
      `${anonymous.host}/team/app:unsigned`,
      '--policies',
      policyFor(`${anonymous.host}/team/app:unsigned`),
      '--insecure-registry',
      anonymous.host,
      '--format',
      'json',
    );
    assert.deepEqual(byTag.json().policies, []);
    assert.match(byTag.json().reasons[0]!, /no policy matches/);
    assert.equal(byTag.code, 1, 'no match denies by default');
  });

  it('applies --no-match to an image no policy covers, after resolving it', async () => {
    const r = await sigwatch(
      'verify',
      `${anonymous.host}/team/app:unsigned`,
      '--policies',
      policyFor('ghcr.io/**'),
      '--insecure-registry',
      anonymous.host,
      '--no-match',
      'allow',
      '--format',
      'json',
    );
    assert.equal(r.code, 0);
    assert.equal(r.json().verdict, 'admit');
    assert.equal(r.json().digest, sample('unsigned').image.digest);
  });

  it('matches an oci: image as written, or as the --as reference pinned to its digest', async () => {
    const dir = join(work, 'layout-as');
    await writeSamplesLayout(dir, samples);
    const policy = policyFor('registry.example.com/team/*');
    const asWritten = await sigwatch('verify', `oci:${dir}:signed`, '--policies', policy, '--format', 'json');
    assert.deepEqual(asWritten.json().policies, []);
    const as = await sigwatch('verify', `oci:${dir}:signed`, '--policies', policy, '--as', 'registry.example.com/team/app:signed', '--format', 'json');
    assert.equal(as.code, 0, as.stdout);
    assert.equal(as.json().policies[0]?.name, 'scoped');
  });
});

describe('failing closed', () => {
  it('denies when the registry is down, naming the registry', async () => {
    const reg = await startRegistry();
    const host = reg.host;
    await reg.stop();
    const r = await sigwatch('verify', `${host}/team/app:signed`, '--policies', join(work, 'policy.yaml'), '--insecure-registry', host, '--format', 'json');
    assert.equal(r.code, 1);
    assert.equal(r.json().verdict, 'deny');
    assert.match(r.json().reasons[0]!, new RegExp(`${host.replace(/\./g, '\\.')}.*ECONNREFUSED`));
  });

  it('denies when credentials are missing, without leaking any', async () => {
    const r = await sigwatch('verify', `${basic.host}/team/app:signed`, '--policies', join(work, 'policy.yaml'), '--insecure-registry', basic.host);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /access denied anonymously/);
    assert.doesNotMatch(r.stdout + r.stderr, /s3cret-pw|Y2k6czNjcmV0LXB3/);
  });

  it('denies a tag that does not exist', async () => {
    const r = await sigwatch('verify', `${anonymous.host}/team/app:nope`, '--policies', join(work, 'policy.yaml'), '--insecure-registry', anonymous.host);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /image not found/);
  });

  it('exits 2 on bad flags and references', async () => {
    assert.equal((await sigwatch('verify', 'x', '--policies', join(work, 'policy.yaml'), '--format', 'xml')).code, 2);
    assert.equal((await sigwatch('verify', 'UPPER/Case', '--policies', join(work, 'policy.yaml'))).code, 2);
    assert.equal((await sigwatch('verify', 'x')).code, 2);
    assert.equal((await sigwatch('verify', 'x', '--policies', join(work, 'policy.yaml'), '--bogus')).code, 2);
  });

  it('refuses an --at that is not an RFC 3339 time, before reading anything', async () => {
    for (const at of ['2026', '2026-11-23T10:00:00', 'yesterday']) {
      const r = await sigwatch('verify', 'x', '--policies', join(work, 'missing'), '--at', at);
      assert.equal(r.code, 2);
      assert.match(r.stderr, new RegExp(`--at must be an RFC 3339 time such as 2026-01-31T12:00:00Z, got "${at}"`));
    }
  });
});
