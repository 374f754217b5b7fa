import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  attestationManifest,
  attestationTag,
  buildImage,
  cosignKeyBundle,
  cosignV3Referrer,
  cosignV3SignStatement,
  createKeylessFixture,
  generateKeyPair,
  keyPolicyYaml,
  legacySignatureManifest,
  pushManifest,
  referrersIndex,
  sha256Digest,
  signatureTag,
  signEnvelope,
  signPayload,
  startRegistry,
  yamlBlock,
  type BuiltManifest,
  type Identity,
  type KeylessFixture,
  type TestRegistry,
} from '../support/index.ts';
import { sigwatch } from '../support/cli.ts';

/**
 * JSON and certificates read as cosign and sigstore-go read them (issue
 * "least authority and bounded resources": parser differentials). Every
 * artefact is signed for real and pushed to docker-registry; each verdict
 * comes from `sigwatch verify`. Where the upstream readers would see another
 * value than JavaScript does (Go's case-insensitive keys, protojson's refusal
 * of duplicate fields, the v1 and v2 Fulcio issuer extensions), the verdict is a deny
 * that says which key or which issuers.
 */

const REPO = 'acme/app';
const GITHUB = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1';
const SLSA1 = 'https://slsa.dev/provenance/v1';
const SIGN_TYPE = 'cosign container image signature';
const work = mkdtempSync(join(tmpdir(), 'sigwatch-parsers-'));
const rootFile = join(work, 'trusted_root.json');
const key = generateKeyPair();
const other = buildImage({ seed: 'parsers-other' }).digest;
const hex = (d: string) => d.replace('sha256:', '');

let reg: TestRegistry;
let fixture: KeylessFixture;
const images = new Map<string, BuiltManifest>();

async function image(tag: string): Promise<BuiltManifest> {
  const m = buildImage({ seed: `parsers-${tag}` });
  await pushManifest(reg, REPO, tag, m);
  images.set(tag, m);
  return m;
}

/** A `.sig` whose one layer is this exact payload text, signed with the policy's key. */
async function keySigned(tag: string, payload: (digest: string) => string) {
  const m = await image(tag);
  const bytes = Buffer.from(payload(m.digest));
  await pushManifest(reg, REPO, signatureTag(m.digest), legacySignatureManifest([{ payload: bytes, signature: signPayload(bytes, key.privateKey) }]));
}

/** A keyless `.sig` (test Fulcio and Rekor) for this identity, over cosign's payload. */
async function keylessSigned(tag: string, identity: Identity) {
  const m = await image(tag);
  const payload = Buffer.from(simplePayload(m.digest));
  const s = await fixture.signKeyless(payload, identity);
  await pushManifest(
    reg,
    REPO,
    signatureTag(m.digest),
    legacySignatureManifest([{ payload, signature: s.signature, certificatePem: s.certificatePem, chainPem: s.chainPem, rekorBundle: s.rekorBundle }]),
  );
}

/** A keyless `.sig` whose Rekor bundle annotation is the annotation cosign writes, edited as text. */
async function keylessSignedRekorText(tag: string, identity: Identity, edit: (annotation: string) => string) {
  const m = await image(tag);
  const payload = Buffer.from(simplePayload(m.digest));
  const s = await fixture.signKeyless(payload, identity);
  const built = legacySignatureManifest([
    { payload, signature: s.signature, certificatePem: s.certificatePem, chainPem: s.chainPem, rekorBundle: s.rekorBundle },
  ]);
  const json = structuredClone(built.json);
  const annotations = json.layers![0]!.annotations!;
  annotations['dev.sigstore.cosign/bundle'] = edit(annotations['dev.sigstore.cosign/bundle']!);
  const bytes = Buffer.from(JSON.stringify(json));
  await pushManifest(reg, REPO, signatureTag(m.digest), { ...built, json, bytes, digest: sha256Digest(bytes) });
}

/** A cosign v3 bundle referrer with these exact bytes, through the referrers tag schema docker-registry needs. */
async function bundled(tag: string, bundle: (digest: string) => Promise<Buffer>) {
  const m = await image(tag);
  const referrer = cosignV3Referrer(m, await bundle(m.digest));
  await pushManifest(reg, REPO, referrer.digest, referrer);
  await pushManifest(reg, REPO, m.digest.replace(':', '-'), referrersIndex([referrer]));
}

/** cosign's simple-signing payload, Go struct field order, with text spliced in where asked. */
function simplePayload(digest: string, splice: { image?: string; critical?: string; top?: string } = {}): string {
  return (
    `{"critical":{"identity":{"docker-reference":"registry.example.com/${REPO}"},` +
    `"image":{"docker-manifest-digest":"${digest}"${splice.image ?? ''}},"type":"${SIGN_TYPE}"${splice.critical ?? ''}},"optional":null${splice.top ?? ''}}`
  );
}

const statement = (digest: string, splice = '') =>
  `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"registry.example.com/${REPO}","digest":{"sha256":"${hex(digest)}"}}],"predicateType":"${SLSA1}","predicate":{"buildDefinition":{}}${splice}}`;

function policyFile(name: string, authority: string): string {
  const file = join(work, `${name}.yaml`);
  writeFileSync(
    file,
    `apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: ${name}}\nspec:\n  images: [{glob: "**"}]\n  authorities:\n${authority}\n`,
  );
  return file;
}
const keyAuthority = (extra = '') => `    - name: release-key\n      key:\n        data: |\n${yamlBlock(key.publicKeyPem, 12)}\n${extra}`;
const keyless = (identity: string) => `    - name: fulcio\n      keyless:\n        identities: [${identity}]\n`;

const verify = (tag: string, policy: string) =>
  sigwatch('verify', `${reg.host}/${REPO}:${tag}`, '--policies', policy, '--insecure-registry', reg.host, '--trusted-root', rootFile, '--format', 'json');

async function denied(tag: string, policy: string, reason: RegExp) {
  const r = await verify(tag, policy);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const reasons = r
    .json()
    .policies.flatMap((p) => p.authorities.map((a) => a.reason))
    .join('\n');
  assert.match(reasons, reason);
}
async function admitted(tag: string, policy: string) {
  const r = await verify(tag, policy);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.json().verdict, 'admit');
}

let signaturePolicy: string;
let attestationPolicy: string;

before(async () => {
  reg = await startRegistry();
  fixture = await createKeylessFixture();
  await fixture.writeTrustedRoot(rootFile);
  signaturePolicy = join(work, 'key.yaml');
  writeFileSync(signaturePolicy, keyPolicyYaml('key', '**', key.publicKeyPem));
  attestationPolicy = policyFile('attested', keyAuthority(`      attestations:\n        - name: provenance\n          predicateType: ${SLSA1}\n`));

  // Simple-signing payloads: cosign reads them with Go's encoding/json.
  await keySigned('sig-good', (d) => simplePayload(d));
  await keySigned('sig-critical-variant', (d) =>
    simplePayload(d, { top: `,"Critical":{"image":{"docker-manifest-digest":"${other}"},"type":"${SIGN_TYPE}"}` }),
  );
  await keySigned('sig-digest-variant', (d) => simplePayload(d, { image: `,"Docker-Manifest-Digest":"${other}"` }));
  await keySigned('sig-digest-kelvin', (d) => simplePayload(d, { image: `,"doc\u212aer-manifest-digest":"${other}"` }));
  await keySigned('sig-digest-twice', (d) => simplePayload(other).replace(`"${other}"`, `"${other}","docker-manifest-digest":"${d}"`));
  await keySigned('sig-type-variant', (d) => simplePayload(d, { critical: ',"Type":"atomic container signature"' }));

  // Legacy `.att` layers: the statement (protojson upstream) and its envelope (Go's encoding/json).
  for (const [tag, text] of [
    ['att-good', (d: string) => statement(d)],
    ['att-subject-twice', (d: string) => statement(other, `,"subject":[{"digest":{"sha256":"${hex(d)}"}}]`)],
    ['att-digest-twice', (d: string) => statement(other).replace(`"sha256":"${hex(other)}"`, `"sha256":"${hex(other)}","sha256":"${hex(d)}"`)],
  ] as const) {
    const m = await image(tag);
    const envelope = signEnvelope(Buffer.from(text(m.digest)), [key.privateKey]);
    await pushManifest(reg, REPO, attestationTag(m.digest), attestationManifest([{ envelope, predicateType: SLSA1 }]));
  }
  const envelopeVariant = await image('att-envelope-variant');
  const env = signEnvelope(Buffer.from(statement(envelopeVariant.digest)), [key.privateKey]).toString();
  const variant = Buffer.from(`${env.slice(0, -1)},"PayloadType":"text/plain"}`);
  await pushManifest(reg, REPO, attestationTag(envelopeVariant.digest), attestationManifest([{ envelope: variant, predicateType: SLSA1 }]));

  // cosign v3 bundles: sigstore-go reads the bundle and its statement with protojson.
  const keyBundle = async (statementText: string) => JSON.stringify(await cosignKeyBundle(Buffer.from(statementText), key.privateKey));
  const v3Statement = (d: string) => cosignV3SignStatement(d).toString();
  await bundled('bundle-good', async (d) => Buffer.from(await keyBundle(v3Statement(d))));
  await bundled('bundle-field-twice', async (d) => {
    const text = await keyBundle(v3Statement(d));
    return Buffer.from(text.replace('{"mediaType":', '{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.1","mediaType":'));
  });
  await bundled('bundle-unknown-field', async (d) => {
    const b = await cosignKeyBundle(Buffer.from(v3Statement(d)), key.privateKey);
    return Buffer.from(JSON.stringify({ ...b, verificationMaterial: { ...(b.verificationMaterial as object), publicKeys: [] } }));
  });
  await bundled('bundle-key-and-chain', async (d) => {
    const b = await cosignKeyBundle(Buffer.from(v3Statement(d)), key.privateKey);
    const certificate = { rawBytes: Buffer.from('not checked').toString('base64') };
    return Buffer.from(
      JSON.stringify({ ...b, verificationMaterial: { ...(b.verificationMaterial as object), x509CertificateChain: { certificates: [certificate] } } }),
    );
  });
  await bundled('bundle-statement-subject-twice', async (d) => {
    const s = v3Statement(other);
    const twice = `${s.slice(0, -1)},"subject":${JSON.stringify([{ digest: { sha256: hex(d) } }])}}`;
    return Buffer.from(await keyBundle(twice));
  });

  // Certificates from the test Fulcio.
  await keylessSigned('cert-good', { issuer: GITHUB, subject: WORKFLOW });
  await keylessSigned('cert-issuers-disagree', { issuer: GITHUB, subject: WORKFLOW, issuerV1: 'https://issuer.attacker.example' });
  await keylessSigned('cert-othername', { issuer: GITHUB, subject: 'alice', sans: [{ otherName: 'alice' }] });
  await keylessSigned('cert-othername-foreign-type', {
    issuer: GITHUB,
    subject: WORKFLOW,
    sans: [{ uri: WORKFLOW }, { otherName: 'alice', oid: '1.3.6.1.4.1.311.20.2.3' }],
  });
  await keylessSigned('cert-othername-two', { issuer: GITHUB, subject: 'alice', sans: [{ otherName: 'alice' }, { otherName: 'bob' }] });
  // cosign's RekorBundle (Go encoding/json): a case variant of Payload beside it.
  await keylessSignedRekorText('rekor-payload-variant', { issuer: GITHUB, subject: WORKFLOW }, (a) => `${a.slice(0, -1)},"payload":{"logIndex":1}}`);
  await keylessSignedRekorText('rekor-payload-good', { issuer: GITHUB, subject: WORKFLOW }, (a) => a);
  await keylessSigned('cert-email-not-ascii', { issuer: GITHUB, subject: 'dév@acme.example', sans: [{ email: 'dév@acme.example' }] });
  await keylessSigned('cert-ip-bad-length', { issuer: GITHUB, subject: WORKFLOW, sans: [{ uri: WORKFLOW }, { ip: Buffer.from([10, 0, 1]) }] });
  await keylessSigned('cert-ipv4-mapped', { issuer: GITHUB, subject: '10.0.0.1', sans: [{ ip: Buffer.from('00000000000000000000ffff0a000001', 'hex') }] });
});

after(async () => {
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('simple-signing payloads as cosign reads them (Go encoding/json: case-insensitive keys, the last wins)', () => {
  it('admits cosign’s own payload', async () => {
    await admitted('sig-good', signaturePolicy);
  });

  it('denies a case variant of a key cosign reads, at every level, naming the key', async () => {
    await denied(
      'sig-critical-variant',
      signaturePolicy,
      /simple-signing payload has the key "Critical", which cosign \(Go's encoding\/json, case-insensitive\) reads as "critical"; refused as ambiguous/,
    );
    await denied(
      'sig-digest-variant',
      signaturePolicy,
      /the key "Docker-Manifest-Digest" in critical\.image, which cosign .* reads as "docker-manifest-digest"/,
    );
    await denied('sig-digest-kelvin', signaturePolicy, /the key "doc\u212aer-manifest-digest" in critical\.image/);
    await denied('sig-type-variant', signaturePolicy, /the key "Type" in critical/);
  });

  it('denies a key twice, even when the last names this image', async () => {
    await denied(
      'sig-digest-twice',
      signaturePolicy,
      /simple-signing payload has the key "docker-manifest-digest" twice in critical\.image; duplicate keys are refused/,
    );
  });
});

describe('in-toto statements and DSSE envelopes (protojson refuses duplicate fields)', () => {
  it('admits a well-formed attestation', async () => {
    await admitted('att-good', attestationPolicy);
  });

  it('denies a statement with subject twice, or a digest twice in a subject', async () => {
    await denied('att-subject-twice', attestationPolicy, /in-toto statement has the key "subject" twice; duplicate keys are refused/);
    await denied('att-digest-twice', attestationPolicy, /in-toto statement has the key "sha256" twice in subject\[0\]\.digest/);
  });

  it('denies an envelope with a case variant of one of its fields', async () => {
    await denied('att-envelope-variant', attestationPolicy, /DSSE envelope has the key "PayloadType", which cosign .* reads as "payloadType"/);
  });
});

describe('cosign’s Rekor bundle annotation (Go encoding/json)', () => {
  const policy = () => policyFile('rekor', keyless(`{issuer: "${GITHUB}", subject: "${WORKFLOW}"}`));

  it('admits the annotation as cosign writes it, and denies one with a case variant of Payload beside it', async () => {
    await admitted('rekor-payload-good', policy());
    await denied(
      'rekor-payload-variant',
      policy(),
      /bundle annotation has the key "payload", which cosign \(Go's encoding\/json, case-insensitive\) reads as "Payload"/,
    );
  });
});

describe('sigstore bundles (sigstore-go: protojson)', () => {
  it('admits a cosign v3 bundle', async () => {
    await admitted('bundle-good', signaturePolicy);
  });

  it('denies a bundle with a field twice, naming it', async () => {
    await denied('bundle-field-twice', signaturePolicy, /bundle has the key "mediaType" twice; duplicate keys are refused/);
  });

  it('denies a bundle with a field the format lacks, or two members of one oneof (protojson refuses both)', async () => {
    await denied(
      'bundle-unknown-field',
      signaturePolicy,
      /bundle has the field "publicKeys" in verificationMaterial, which the sigstore bundle format does not define/,
    );
    await denied(
      'bundle-key-and-chain',
      signaturePolicy,
      /bundle sets both publicKey and x509CertificateChain in verificationMaterial, of which a bundle holds one/,
    );
  });

  it('denies a bundle whose signed statement has subject twice', async () => {
    await denied('bundle-statement-subject-twice', signaturePolicy, /in-toto statement has the key "subject" twice/);
  });
});

describe('certificate identity as cosign reads it', () => {
  const policy = (name: string, identity: string) => policyFile(name, keyless(identity));

  it('admits the test Fulcio’s ordinary certificate', async () => {
    await admitted('cert-good', policy('cert-good', `{issuer: "${GITHUB}", subject: "${WORKFLOW}"}`));
  });

  it('denies a certificate whose v1 and v2 issuer extensions disagree, naming both, whichever the policy names', async () => {
    const both =
      /certificate names two issuers: "https:\/\/issuer\.attacker\.example" in the v1 extension \(1\.3\.6\.1\.4\.1\.57264\.1\.1\) and "https:\/\/token\.actions\.githubusercontent\.com" in the v2 extension \(1\.3\.6\.1\.4\.1\.57264\.1\.8\)/;
    await denied('cert-issuers-disagree', policy('v2-issuer', `{issuer: "${GITHUB}", subject: "${WORKFLOW}"}`), both);
    await denied('cert-issuers-disagree', policy('v1-issuer', `{issuer: "https://issuer.attacker.example", subject: "${WORKFLOW}"}`), both);
  });

  it('reads Fulcio’s otherName SAN (type 1.3.6.1.4.1.57264.1.7) as a subject', async () => {
    await admitted('cert-othername', policy('othername', `{issuer: "${GITHUB}", subject: "alice"}`));
  });

  it('ignores an otherName of another type, and every otherName when there are two, as cryptoutils does', async () => {
    await denied('cert-othername-foreign-type', policy('foreign-type', `{issuer: "${GITHUB}", subject: "alice"}`), /none of the expected identities matched/);
    await admitted('cert-othername-foreign-type', policy('foreign-type-uri', `{issuer: "${GITHUB}", subject: "${WORKFLOW}"}`));
    await denied('cert-othername-two', policy('two', `{issuer: "${GITHUB}", subject: "alice"}`), /none of the expected identities matched/);
  });

  it('denies a certificate with a SAN Go’s x509 parser refuses (cosign cannot read it)', async () => {
    await denied(
      'cert-email-not-ascii',
      policy('email', `{issuer: "${GITHUB}", subject: "dév@acme.example"}`),
      /certificate SAN rfc822Name is malformed \(not ASCII\)/,
    );
    await denied(
      'cert-ip-bad-length',
      policy('ip-length', `{issuer: "${GITHUB}", subject: "${WORKFLOW}"}`),
      /certificate IP address SAN of 3 bytes is malformed/,
    );
  });

  it('prints an IPv4-mapped IPv6 SAN as Go does (dotted)', async () => {
    await admitted('cert-ipv4-mapped', policy('ip', `{issuer: "${GITHUB}", subject: "10.0.0.1"}`));
  });
});
