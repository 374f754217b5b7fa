import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { trustMaterialFromJson } from '../../src/trust/trusted-root.ts';
import { BUNDLE_V03_MEDIA_TYPE, buildImage, cosignSignStatement, createKeylessFixture, sha256Digest, type KeylessFixture } from '../support/index.ts';
import { fill, loadCorpus } from './load.ts';
import { imageEntries, keylessPolicyYaml, loadPolicy, verdictText, verifyLayout, writeLayout } from './verify-fixture.ts';
import { recordCorpusCase } from '../support/faults.ts';

/**
 * Hostile sigstore bundles (test/corpus/bundles), served as cosign v3
 * referrers (listed under the referrers tag schema, so that the subject
 * check of the signature step is reached too): raw garbage, bundles signed
 * by the harness's sigstore and then altered, and validly signed bundles
 * whose statement says the wrong thing. Every verdict is a deny.
 */

interface BundleInput {
  raw?: string;
  sign?: { payloadType?: string; statement?: unknown; identity?: string; messageSignature?: boolean };
  mutate?: { path: string; set?: unknown; delete?: boolean }[];
  referrer?: { subject?: string | null; layerMediaType?: string; layerSize?: number };
}

const GITHUB = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1';
const IN_TOTO = 'application/vnd.in-toto+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const cases = loadCorpus<{ reason: string }>('bundles');
const image = buildImage({ seed: 'corpus-bundles' });
const other = buildImage({ seed: 'corpus-bundles-other' });
const policy = loadPolicy(keylessPolicyYaml(GITHUB, WORKFLOW));
const work = mkdtempSync(join(tmpdir(), 'sigwatch-corpus-bundles-'));
let fixture: KeylessFixture;
after(() => rmSync(work, { recursive: true, force: true }));
before(async () => {
  fixture = await createKeylessFixture();
});

const hex = image.digest.slice('sha256:'.length);
const vars: Record<string, string> = {
  IMAGE_HEX: hex,
  IMAGE_HEX_UPPER: hex.toUpperCase(),
  OTHER_HEX: other.digest.slice('sha256:'.length),
  OTHER_DIGEST: other.digest,
  // Same image, other name: bytes the signature does not cover.
  UNSIGNED_STATEMENT_B64: cosignSignStatement('evil.example.com/other', image.digest).toString('base64'),
};

async function bundleBytes(input: BundleInput): Promise<Buffer> {
  if (input.raw !== undefined) return Buffer.from(input.raw);
  const sign = input.sign ?? {};
  const identity = { issuer: GITHUB, subject: sign.identity ?? WORKFLOW };
  let statement = cosignSignStatement('registry.example.com/team/app', image.digest);
  if (typeof sign.statement === 'string') statement = Buffer.from(fill(sign.statement, vars) as string);
  else if (sign.statement !== undefined) statement = Buffer.from(JSON.stringify(fill(sign.statement, vars)));
  const signed = sign.messageSignature
    ? (await fixture.signKeyless(statement, identity)).bundle
    : await fixture.signDsseKeyless(sign.payloadType ?? IN_TOTO, statement, identity);
  const json = structuredClone(signed) as unknown as Record<string, unknown>;
  const leaf = (json.verificationMaterial as { certificate?: { rawBytes: string } }).certificate?.rawBytes;
  for (const op of input.mutate ?? []) {
    const value = op.set === '$CHAIN_X40' ? { certificates: Array.from({ length: 40 }, () => ({ rawBytes: leaf })) } : fill(op.set, vars);
    const keys = op.path.split('.');
    let target = json as Record<string, unknown>;
    for (const k of keys.slice(0, -1)) target = target[k] as Record<string, unknown>;
    if (op.delete) delete target[keys.at(-1)!];
    else target[keys.at(-1)!] = value;
  }
  return Buffer.from(JSON.stringify(json));
}

describe('hostile bundles corpus', () => {
  it('holds the cases the reliability note counts', () => {
    assert.ok(cases.length >= 30, `${cases.length} bundle cases`);
  });

  for (const [name, input] of [['baseline', {} as BundleInput], ...cases.map((c) => [c.name, c.input as BundleInput] as const)] as const) {
    const c = cases.find((x) => x.name === name);
    const title = c ? `${c.name}: ${c.why}` : 'admits the well-formed bundle every case breaks';
    it(title, { timeout: 30_000 }, async () => {
      let outcome = 'crash';
      let crashed = true;
      let admitted = false;
      try {
        const layer = await bundleBytes(c ? input : { sign: {} });
        const empty = Buffer.from('{}');
        const referrer = c?.input.referrer as BundleInput['referrer'];
        const subject = referrer?.subject === null ? undefined : fill(referrer?.subject ?? image.digest, vars);
        const manifest = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: OCI_MANIFEST,
            artifactType: BUNDLE_V03_MEDIA_TYPE,
            config: { mediaType: 'application/vnd.oci.empty.v1+json', size: empty.length, digest: sha256Digest(empty) },
            layers: [{ mediaType: referrer?.layerMediaType ?? BUNDLE_V03_MEDIA_TYPE, size: referrer?.layerSize ?? layer.length, digest: sha256Digest(layer) }],
            ...(subject ? { subject: { mediaType: image.mediaType, size: image.bytes.length, digest: subject } } : {}),
          }),
        );
        const referrersIndex = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.index.v1+json',
            manifests: [{ mediaType: OCI_MANIFEST, size: manifest.length, digest: sha256Digest(manifest), artifactType: BUNDLE_V03_MEDIA_TYPE }],
          }),
        );
        const dir = join(work, name);
        const img = imageEntries(image);
        await writeLayout(
          dir,
          [img.manifest, { tag: `sha256-${hex}`, mediaType: 'application/vnd.oci.image.index.v1+json', bytes: referrersIndex }],
          [...img.blobs, empty, layer, manifest],
        );
        const verdict = await verifyLayout(dir, policy, trustMaterialFromJson(fixture.trustedRoot, 'fixture'));
        crashed = false;
        outcome = verdict.verdict;
        admitted = verdict.verdict === 'admit';
        if (!c) {
          assert.equal(verdict.verdict, 'admit', verdictText(verdict));
          return;
        }
        assert.equal(verdict.verdict, 'deny', verdictText(verdict));
        assert.match(verdictText(verdict), new RegExp(c.expect.reason));
        assert.doesNotMatch(verdictText(verdict), /TypeError|Cannot read properties|undefined is not/);
      } finally {
        if (c) recordCorpusCase({ kind: 'bundles', case: c.name, outcome, admitted, crashed });
      }
    });
  }
});
