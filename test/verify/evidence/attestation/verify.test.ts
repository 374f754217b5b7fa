import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import type { AttestationAuthorityResult } from '../../../../src/verify/attestations.ts';
import {
  attestationManifest,
  attestationReferrer,
  attestationTag,
  buildImage,
  createKeylessFixture,
  generateKeyPair,
  inTotoStatement,
  keyAttestationBundle,
  keyAttestationLayer,
  keylessAttestationBundle,
  keylessAttestationLayer,
  PredicateUris,
  Predicates,
  pushManifest,
  referrersIndex,
  startRegistry,
  type AttestationLayer,
  type BuiltManifest,
  type KeylessFixture,
  type TestRegistry,
} from '../../../support/index.ts';
import { sigwatch } from '../../../support/cli.ts';

const GITHUB = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
const REPO = 'acme/app';
const work = mkdtempSync(join(tmpdir(), 'sigwatch-attest-'));
const rootFile = join(work, 'trusted_root.json');
const key = generateKeyPair();
const otherKey = generateKeyPair();
let fixture: KeylessFixture;
let reg: TestRegistry;
const images = new Map<string, BuiltManifest>();

/** Pushes an image under `tag` with its `.att` layers and referrer attestations. */
async function addImage(tag: string, make: (image: BuiltManifest) => Promise<{ att?: AttestationLayer[]; referrers?: BuiltManifest[] }>) {
  const image = buildImage({ seed: `attest-${tag}` });
  const { att = [], referrers = [] } = await make(image);
  await pushManifest(reg, REPO, tag, image);
  if (att.length) await pushManifest(reg, REPO, attestationTag(image.digest), attestationManifest(att));
  if (referrers.length) {
    for (const r of referrers) await pushManifest(reg, REPO, r.digest, r);
    await pushManifest(reg, REPO, image.digest.replace(':', '-'), referrersIndex(referrers));
  }
  images.set(tag, image);
}

const name = () => `${reg.host}/${REPO}`;
const statement = (image: BuiltManifest, type: string, predicate: unknown) => inTotoStatement(name(), image.digest, type, predicate);
const keylessIdentity = { issuer: GITHUB, subject: WORKFLOW };

type Attestation = { name: string; predicateType: string; policy?: { type: string; data: string } };
const keyAuthority = (attestations: Attestation[], pem = key.publicKeyPem) => ({ name: 'release-key', key: { data: pem }, attestations });
const keylessAuthority = (attestations: Attestation[], subjectRegExp = '^https://github\\.com/acme/app/') => ({
  name: 'github-actions',
  keyless: { identities: [{ issuer: GITHUB, subjectRegExp }] },
  attestations,
});
const cue = (data: string) => ({ type: 'cue', data });

function policyFile(authorities: object[], extra: Record<string, unknown> = {}): string {
  const file = join(work, `policy-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    stringify({
      apiVersion: 'policy.sigstore.dev/v1beta1',
      kind: 'ClusterImagePolicy',
      metadata: { name: 'attested' },
      spec: { images: [{ glob: '**' }], authorities, ...extra },
    }),
  );
  return file;
}

async function verify(tag: string, authorities: object[], extra: Record<string, unknown> = {}) {
  const out = await sigwatch(
    'verify',
    `${name()}:${tag}`,
    '--policies',
    policyFile(authorities, extra),
    '--insecure-registry',
    reg.host,
    '--trusted-root',
    rootFile,
    '--format',
    'json',
  );
  const verdict = out.json();
  const authority = verdict.policies[0]?.authorities[0] as AttestationAuthorityResult | undefined;
  return { code: out.code, verdict, authority, stderr: out.stderr };
}

before(async () => {
  fixture = await createKeylessFixture();
  await fixture.writeTrustedRoot(rootFile);
  reg = await startRegistry();
  await addImage('slsa02', async (image) => ({ att: [keyAttestationLayer(statement(image, PredicateUris.slsa02, Predicates.slsa02()), key.privateKey)] }));
  await addImage('slsa1', async (image) => ({
    att: [await keylessAttestationLayer(fixture, statement(image, PredicateUris.slsa1, Predicates.slsa1()), keylessIdentity)],
  }));
  await addImage('spdx-bundle', async (image) => ({
    referrers: [
      attestationReferrer(
        image,
        await keylessAttestationBundle(fixture, statement(image, PredicateUris.spdx, Predicates.spdx()), keylessIdentity),
        PredicateUris.spdx,
      ),
    ],
  }));
  await addImage('cyclonedx-bundle-key', async (image) => ({
    referrers: [
      attestationReferrer(
        image,
        keyAttestationBundle(statement(image, PredicateUris.cyclonedx, Predicates.cyclonedx()), key.privateKey),
        PredicateUris.cyclonedx,
      ),
    ],
  }));
  await addImage('vuln-critical', async (image) => ({
    att: [keyAttestationLayer(statement(image, PredicateUris.vuln, Predicates.vuln(['LOW', 'CRITICAL'])), key.privateKey)],
  }));
  await addImage('vuln-clean', async (image) => ({
    att: [keyAttestationLayer(statement(image, PredicateUris.vuln, Predicates.vuln(['LOW', 'MEDIUM'])), key.privateKey)],
  }));
  await addImage('custom', async (image) => ({
    att: [
      keyAttestationLayer(statement(image, PredicateUris.custom, Predicates.custom('reviewed-by-security')), key.privateKey),
      keyAttestationLayer(statement(image, 'https://example.com/attestations/review/v1', { approved: true, reviewer: 'alice' }), key.privateKey),
    ],
  }));
  await addImage('other-digest', async () => ({
    att: [keyAttestationLayer(inTotoStatement(name(), buildImage({ seed: 'elsewhere' }).digest, PredicateUris.slsa02, Predicates.slsa02()), key.privateKey)],
  }));
  await addImage('spdx-and-cyclonedx', async (image) => ({
    att: [
      keyAttestationLayer(statement(image, PredicateUris.spdx, Predicates.spdx('SPDX-2.1')), key.privateKey),
      keyAttestationLayer(statement(image, PredicateUris.cyclonedx, Predicates.cyclonedx()), key.privateKey),
    ],
  }));
  await addImage('other-key', async (image) => ({
    att: [keyAttestationLayer(statement(image, PredicateUris.slsa02, Predicates.slsa02()), otherKey.privateKey)],
  }));
  await addImage('unattested', async () => ({}));
  await addImage('keyless-no-rekor', async (image) => {
    const { rekorBundle: _, ...layer } = await keylessAttestationLayer(fixture, statement(image, PredicateUris.slsa1, Predicates.slsa1()), keylessIdentity);
    return { att: [layer] };
  });
  await addImage('not-an-envelope', async (image) => ({
    att: [{ envelope: Buffer.from('{"payload": 1}') }, keyAttestationLayer(statement(image, PredicateUris.slsa02, Predicates.slsa02()), otherKey.privateKey)],
  }));
});
after(async () => {
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('attestations: predicate kinds, with keys and keyless', () => {
  it('SLSA v0.2 provenance in a .att tag, signed with a key, short name slsaprovenance: admitted when the policy holds', async () => {
    const r = await verify('slsa02', [
      keyAuthority([{ name: 'provenance', predicateType: 'slsaprovenance', policy: cue('predicate: builder: id: "https://github.com/actions/runner"') }]),
    ]);
    assert.equal(r.verdict.verdict, 'admit', JSON.stringify(r.verdict.reasons));
    assert.equal(r.code, 0);
    assert.equal(r.authority?.reason, 'attestations passed: provenance');
    assert.deepEqual(
      r.authority?.attestations.map((a) => [a.name, a.verdict, a.matches.length]),
      [['provenance', 'pass', 1]],
    );
  });

  it('SLSA v0.2 provenance from another builder: denied with the CUE conflict', async () => {
    const r = await verify('slsa02', [
      keyAuthority([{ name: 'provenance', predicateType: 'slsaprovenance02', policy: cue('predicate: builder: id: "https://ci.acme.example/builder"') }]),
    ]);
    assert.equal(r.verdict.verdict, 'deny');
    assert.equal(r.code, 1);
    assert.match(
      r.authority!.reason,
      /^attestation provenance: sha256:[0-9a-f]{64}: failed evaluating cue policy for provenance: failed to evaluate the policy with error: predicate\.builder\.id: conflicting values "https:\/\/ci\.acme\.example\/builder" and "https:\/\/github\.com\/actions\/runner": (input\.json|policy\.cue):\d+:\d+ (input\.json|policy\.cue):\d+:\d+$/,
      'one line, naming the positions in the policy and the statement, not temporary paths',
    );
  });

  it('SLSA v1 provenance, keyless legacy .att (certificate and Rekor bundle annotations)', async () => {
    const ok = await verify('slsa1', [
      keylessAuthority([
        {
          name: 'provenance',
          predicateType: 'slsaprovenance1',
          policy: cue('predicate: buildDefinition: buildType: "https://actions.github.io/buildtypes/workflow/v1"'),
        },
      ]),
    ]);
    assert.equal(ok.verdict.verdict, 'admit', JSON.stringify(ok.verdict.reasons));
    assert.deepEqual(ok.authority?.signatures[0]?.identity, { issuer: GITHUB, subject: WORKFLOW });
    const wrongIdentity = await verify('slsa1', [
      keylessAuthority([{ name: 'provenance', predicateType: PredicateUris.slsa1 }], '^https://github\\.com/other/'),
    ]);
    assert.equal(wrongIdentity.verdict.verdict, 'deny');
    assert.match(wrongIdentity.authority!.reason, /no valid attestations: sha256:[0-9a-f]{64}: none of the expected identities matched/);
  });

  it('SPDX SBOM as a keyless sigstore bundle found through referrers (short name spdxjson)', async () => {
    const r = await verify('spdx-bundle', [
      keylessAuthority([{ name: 'sbom', predicateType: 'spdxjson', policy: cue('predicate: spdxVersion: =~"^SPDX-2\\\\.[23]$"') }]),
    ]);
    assert.equal(r.verdict.verdict, 'admit', JSON.stringify(r.verdict.reasons));
    assert.equal(r.authority?.attestations[0]?.matches[0]?.predicateType, 'spdxjson');
  });

  it('CycloneDX SBOM as a key-signed bundle found through referrers', async () => {
    const r = await verify('cyclonedx-bundle-key', [
      keyAuthority([{ name: 'sbom', predicateType: 'cyclonedx', policy: cue('predicate: bomFormat: "CycloneDX"') }]),
    ]);
    assert.equal(r.verdict.verdict, 'admit', JSON.stringify(r.verdict.reasons));
    const wrongKey = await verify('cyclonedx-bundle-key', [keyAuthority([{ name: 'sbom', predicateType: 'cyclonedx' }], otherKey.publicKeyPem)]);
    assert.equal(wrongKey.verdict.verdict, 'deny');
    assert.match(wrongKey.authority!.reason, /envelope signature does not verify with the authority's key/);
  });

  it('vulnerability scan: no critical findings admits, a critical finding denies', async () => {
    const noCritical = cue('predicate: scanner: result: Results: [...{Vulnerabilities?: [...{Severity: !="CRITICAL"}]}]');
    const clean = await verify('vuln-clean', [keyAuthority([{ name: 'no-criticals', predicateType: 'vuln', policy: noCritical }])]);
    assert.equal(clean.verdict.verdict, 'admit', JSON.stringify(clean.verdict.reasons));
    const critical = await verify('vuln-critical', [keyAuthority([{ name: 'no-criticals', predicateType: 'vuln', policy: noCritical }])]);
    assert.equal(critical.verdict.verdict, 'deny');
    assert.match(critical.authority!.reason, /failed evaluating cue policy for no-criticals: .*invalid value "CRITICAL"/s);
  });

  it('vuln statements reach the policy as cosign shapes them: no _type', async () => {
    const r = await verify('vuln-clean', [
      keyAuthority([{ name: 'shape', predicateType: 'vuln', policy: cue('"_type": "https://in-toto.io/Statement/v2"\npredicate: invocation: uri: string') }]),
    ]);
    // cosign's vuln shape has no _type, so a policy about it only adds the field and passes.
    assert.equal(r.verdict.verdict, 'admit', JSON.stringify(r.verdict.reasons));
    const full = await verify('vuln-clean', [
      keyAuthority([{ name: 'shape', predicateType: PredicateUris.vuln, policy: cue('"_type": "https://in-toto.io/Statement/v2"') }]),
    ]);
    assert.equal(full.verdict.verdict, 'deny', 'by URI the whole statement, _type included, is the input');
  });

  it('a custom predicate (short name custom) and a custom URI', async () => {
    const r = await verify('custom', [
      keyAuthority([
        { name: 'security-review', predicateType: 'custom', policy: cue('predicate: Data: "reviewed-by-security"') },
        { name: 'approval', predicateType: 'https://example.com/attestations/review/v1', policy: cue('predicate: approved: true') },
      ]),
    ]);
    assert.equal(r.verdict.verdict, 'admit', JSON.stringify(r.verdict.reasons));
    assert.equal(r.authority?.reason, 'attestations passed: security-review, approval');
  });

  it('an attestation without a policy passes on a verified envelope of its type', async () => {
    const r = await verify('slsa02', [keyAuthority([{ name: 'any-provenance', predicateType: PredicateUris.slsa02 }])]);
    assert.equal(r.verdict.verdict, 'admit', JSON.stringify(r.verdict.reasons));
  });
});

describe('attestations: what is refused', () => {
  it('a statement about another digest is denied, with the digest it names', async () => {
    const elsewhere = buildImage({ seed: 'elsewhere' }).digest;
    const r = await verify('other-digest', [keyAuthority([{ name: 'provenance', predicateType: 'slsaprovenance' }])]);
    assert.equal(r.verdict.verdict, 'deny');
    assert.equal(
      r.authority!.reason,
      `no valid attestations: ${r.authority!.reason.split(': ')[1]}: statement is for ${elsewhere}, not this image (${images.get('other-digest')!.digest})`,
    );
  });

  it('an attestation of the wrong predicate type is ignored, not accepted', async () => {
    // The policy would accept anything: only the type keeps the SLSA statement out.
    const r = await verify('slsa02', [keyAuthority([{ name: 'sbom', predicateType: 'spdx', policy: cue('predicate: _') }])]);
    assert.equal(r.verdict.verdict, 'deny');
    assert.equal(
      r.authority!.reason,
      `attestation sbom: no matching attestations with type spdx, checked the following predicateTypes: "${PredicateUris.slsa02}"`,
    );
  });

  it('a failing statement of another type does not spoil a passing one', async () => {
    const r = await verify('spdx-and-cyclonedx', [keyAuthority([{ name: 'sbom', predicateType: 'cyclonedx', policy: cue('predicate: specVersion: "1.5"') }])]);
    assert.equal(r.verdict.verdict, 'admit', JSON.stringify(r.verdict.reasons));
    assert.deepEqual(r.authority?.attestations[0]?.matches.length, 1);
  });

  it('every listed attestation must pass: the one that fails is named, the one that passed too', async () => {
    const r = await verify('spdx-and-cyclonedx', [
      keyAuthority([
        { name: 'cyclonedx-sbom', predicateType: 'cyclonedx' },
        { name: 'spdx-2.3', predicateType: 'spdx', policy: cue('predicate: spdxVersion: "SPDX-2.3"') },
      ]),
    ]);
    assert.equal(r.verdict.verdict, 'deny');
    assert.deepEqual(
      r.authority?.attestations.map((a) => [a.name, a.verdict]),
      [
        ['cyclonedx-sbom', 'pass'],
        ['spdx-2.3', 'fail'],
      ],
    );
    assert.match(
      r.authority!.reason,
      /^attestation spdx-2\.3: sha256:[0-9a-f]{64}: failed evaluating cue policy for spdx-2\.3: .*conflicting values "SPDX-2\.3" and "SPDX-2\.1"/s,
    );
  });

  it('an attestation signed by another key does not verify', async () => {
    const r = await verify('other-key', [keyAuthority([{ name: 'provenance', predicateType: 'slsaprovenance' }])]);
    assert.equal(r.verdict.verdict, 'deny');
    assert.match(r.authority!.reason, /^no valid attestations: sha256:[0-9a-f]{64}: envelope signature does not verify with the authority's key$/);
  });

  it('an image without attestations is denied', async () => {
    const r = await verify('unattested', [keyAuthority([{ name: 'provenance', predicateType: 'slsaprovenance' }])]);
    assert.equal(r.verdict.verdict, 'deny');
    assert.equal(r.authority!.reason, 'no matching attestations for authority release-key');
  });

  it('a keyless attestation without its Rekor entry is refused (the log is required, as for signatures)', async () => {
    const r = await verify('keyless-no-rekor', [keylessAuthority([{ name: 'provenance', predicateType: 'slsaprovenance1' }])]);
    assert.equal(r.verdict.verdict, 'deny');
    assert.match(
      r.authority!.reason,
      /^no valid attestations: sha256:[0-9a-f]{64}: no Rekor bundle annotation, and the authority requires the transparency log$/,
    );
  });

  it('a layer that is not a DSSE envelope is reported, and can never admit', async () => {
    const r = await verify('not-an-envelope', [keyAuthority([{ name: 'provenance', predicateType: 'slsaprovenance' }])]);
    assert.equal(r.verdict.verdict, 'deny');
    assert.match(r.authority!.reason, /sha256-[0-9a-f]{64}\.att layer 0: not a DSSE envelope \(payloadType, payload, signatures\)/);
    assert.match(r.authority!.reason, /envelope signature does not verify with the authority's key/);
  });

  it('a keyless authority does not take a key-signed attestation, nor a key authority a keyless one', async () => {
    const keyless = await verify('slsa02', [keylessAuthority([{ name: 'provenance', predicateType: 'slsaprovenance' }])]);
    assert.equal(keyless.verdict.verdict, 'deny');
    assert.match(keyless.authority!.reason, /not a keyless attestation \(no certificate\)/);
    const keyed = await verify('slsa1', [keyAuthority([{ name: 'provenance', predicateType: 'slsaprovenance1' }])]);
    assert.equal(keyed.verdict.verdict, 'deny');
    assert.match(keyed.authority!.reason, /envelope signature does not verify with the authority's key/);
  });
});
