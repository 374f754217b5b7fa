import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { trustMaterialFromJson } from '../../src/trust/trusted-root.ts';
import {
  buildImage,
  createKeylessFixture,
  generateKeyPair,
  keyPolicyYaml,
  sha256Digest,
  signatureTag,
  signPayload,
  simpleSigningPayload,
  type KeylessFixture,
} from '../support/index.ts';
import { fill, loadCorpus } from './load.ts';
import { imageEntries, keylessPolicyYaml, loadPolicy, verdictText, verifyLayout, writeLayout } from './verify-fixture.ts';
import { recordCorpusCase } from '../support/faults.ts';

/**
 * Hostile cosign signatures (test/corpus/signatures): `.sig` manifests whose
 * layers carry bad annotations, payloads signed with the policy's own key
 * that say the wrong thing, and keyless signatures with broken certificates
 * or Rekor evidence. Signatures are made in the test with real keys (and the
 * in-process sigstore of the harness for keyless ones); every verdict is a
 * deny naming the reason.
 */

interface Layer {
  payload: unknown;
  annotations: Record<string, string>;
  sizeDelta?: number;
}

const GITHUB = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1';
const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
const cases = loadCorpus<{ reason: string }>('signatures');
const key = generateKeyPair();
const foreign = generateKeyPair();
const image = buildImage({ seed: 'corpus-signatures' });
const other = buildImage({ seed: 'corpus-signatures-other' });
const payload = simpleSigningPayload('registry.example.com/team/app', image.digest);
const keyPolicy = loadPolicy(keyPolicyYaml('corpus-key', '**', key.publicKeyPem));
const keylessPolicy = loadPolicy(keylessPolicyYaml(GITHUB, WORKFLOW));
const work = mkdtempSync(join(tmpdir(), 'sigwatch-corpus-signatures-'));
let fixture: KeylessFixture;
let otherRekor: string;
after(() => rmSync(work, { recursive: true, force: true }));
before(async () => {
  fixture = await createKeylessFixture();
  const otherSig = await fixture.signKeyless(simpleSigningPayload('x', other.digest), { issuer: GITHUB, subject: WORKFLOW });
  otherRekor = JSON.stringify(otherSig.rekorBundle);
});

const baseVars = {
  IMAGE_DIGEST: image.digest,
  IMAGE_DIGEST_UPPER: `sha256:${image.digest.slice(7).toUpperCase()}`,
  OTHER_DIGEST: other.digest,
  HUGE_BASE64: randomBytes(1_500_000).toString('base64'),
  OTHER_SIGNATURE: signPayload(simpleSigningPayload('registry.example.com/team/app', other.digest), key.privateKey),
  FOREIGN_SIGNATURE: signPayload(payload, foreign.privateKey),
};

function payloadBytes(value: unknown, vars: Record<string, string>): Buffer {
  if (value === '$PAYLOAD') return payload;
  if (typeof value === 'string') return Buffer.from(fill(value, vars) as string);
  return Buffer.from(JSON.stringify(fill(value, vars)));
}

/** The `.sig` manifest and its blobs; `$SIGNATURE` is a real signature over each layer's payload. */
async function signatureManifest(layers: Layer[], keyless: { identity: string } | undefined): Promise<{ bytes: Buffer; blobs: Buffer[] }> {
  const config = Buffer.from(JSON.stringify({ architecture: '', os: '', rootfs: { type: 'layers', diff_ids: [] }, config: {} }));
  const blobs: Buffer[] = [config];
  const descriptors = [];
  for (const layer of layers) {
    const bytes = payloadBytes(layer.payload, baseVars);
    const vars: Record<string, string> = { ...baseVars, SIGNATURE: signPayload(bytes, key.privateKey), FIXTURE_REKOR_OTHER: otherRekor };
    if (keyless) {
      const sig = await fixture.signKeyless(bytes, { issuer: GITHUB, subject: keyless.identity });
      Object.assign(vars, {
        SIGNATURE: sig.signature,
        FIXTURE_CERT: sig.certificatePem,
        FIXTURE_CHAIN_X40: sig.chainPem.repeat(40),
        FIXTURE_CHAIN: sig.chainPem,
        FIXTURE_REKOR: JSON.stringify(sig.rekorBundle),
      });
    }
    blobs.push(bytes);
    descriptors.push({
      mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
      size: bytes.length + (layer.sizeDelta ?? 0),
      digest: sha256Digest(bytes),
      annotations: fill(layer.annotations, vars) as Record<string, string>,
    });
  }
  const json = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: config.length, digest: sha256Digest(config) },
    layers: descriptors,
  };
  return { bytes: Buffer.from(JSON.stringify(json)), blobs };
}

/** Raw manifest texts that JSON.stringify cannot write (duplicate keys). */
async function rawManifest(kind: string): Promise<{ bytes: Buffer; blobs: Buffer[] }> {
  assert.equal(kind, 'duplicate-annotation');
  const built = await signatureManifest([{ payload: '$PAYLOAD', annotations: { [SIGNATURE_ANNOTATION]: '$SIGNATURE' } }], undefined);
  const text = built.bytes.toString().replace(/("dev\.cosignproject\.cosign\/signature":"[^"]*")/, '$1,"dev.cosignproject.cosign/signature":"!!!"');
  return { bytes: Buffer.from(text), blobs: built.blobs };
}

describe('hostile signatures corpus', () => {
  it('holds the cases the reliability note counts', () => {
    assert.ok(cases.length >= 30, `${cases.length} signature cases`);
  });

  it('admits the well-formed signature every case breaks (key and keyless)', async () => {
    for (const [keyless, policy] of [
      [undefined, keyPolicy],
      [{ identity: WORKFLOW }, keylessPolicy],
    ] as const) {
      const annotations: Record<string, string> = { [SIGNATURE_ANNOTATION]: '$SIGNATURE' };
      if (keyless)
        Object.assign(annotations, {
          'dev.sigstore.cosign/certificate': '$FIXTURE_CERT',
          'dev.sigstore.cosign/chain': '$FIXTURE_CHAIN',
          'dev.sigstore.cosign/bundle': '$FIXTURE_REKOR',
        });
      const sig = await signatureManifest([{ payload: '$PAYLOAD', annotations }], keyless);
      const dir = join(work, `baseline-${keyless ? 'keyless' : 'key'}`);
      const { manifest, blobs } = imageEntries(image);
      await writeLayout(
        dir,
        [manifest, { tag: signatureTag(image.digest), mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes: sig.bytes }],
        [...blobs, ...sig.blobs],
      );
      const verdict = await verifyLayout(dir, policy, trustMaterialFromJson(fixture.trustedRoot, 'fixture'));
      assert.equal(verdict.verdict, 'admit', verdictText(verdict));
    }
  });

  for (const c of cases) {
    it(`${c.name}: ${c.why}`, { timeout: 30_000 }, async () => {
      let outcome = 'crash';
      let crashed = true;
      let admitted = false;
      try {
        const keyless = c.input.sign === 'keyless' ? { identity: (c.input.identity as string | undefined) ?? WORKFLOW } : undefined;
        const sig =
          typeof c.input.manifestText === 'string' ? await rawManifest(c.input.manifestText) : await signatureManifest(c.input.layers as Layer[], keyless);
        const dir = join(work, c.name);
        const { manifest, blobs } = imageEntries(image);
        await writeLayout(
          dir,
          [manifest, { tag: signatureTag(image.digest), mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes: sig.bytes }],
          [...blobs, ...sig.blobs],
        );
        const policy = c.input.policy === 'keyless' ? keylessPolicy : keyPolicy;
        const verdict = await verifyLayout(dir, policy, trustMaterialFromJson(fixture.trustedRoot, 'fixture'));
        crashed = false;
        outcome = verdict.verdict;
        admitted = verdict.verdict === 'admit';
        assert.equal(verdict.verdict, 'deny', verdictText(verdict));
        assert.match(verdictText(verdict), new RegExp(c.expect.reason));
        assert.doesNotMatch(verdictText(verdict), /TypeError|Cannot read properties|undefined is not/);
      } finally {
        recordCorpusCase({ kind: 'signatures', case: c.name, outcome, admitted, crashed });
      }
    });
  }
});
