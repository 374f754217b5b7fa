import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SigwatchError } from '../../src/errors.ts';
import { parseManifest } from '../../src/registry/manifest.ts';
import { MAX_MANIFEST_BYTES } from '../../src/registry/types.ts';
import { buildImage, generateKeyPair, keyPolicyYaml, sha256Digest, signatureTag } from '../support/index.ts';
import { fill, loadCorpus } from './load.ts';
import { imageEntries, loadPolicy, verdictText, verifyLayout, writeLayout } from './verify-fixture.ts';
import { recordCorpusCase } from '../support/faults.ts';

/**
 * Hostile manifests (test/corpus/manifests): each is parsed by
 * parseManifest (a REGISTRY_PROTOCOL error naming the field, or a manifest),
 * then stored as the `.sig` manifest of an image in an OCI layout and
 * verified: always a deny, with the reason the corpus names.
 */

interface Expect {
  parse: 'ok' | { code: string; message: string };
  reason: string;
}

const cases = loadCorpus<Expect>('manifests');
const key = generateKeyPair();
const policy = loadPolicy(keyPolicyYaml('corpus-key', '**', key.publicKeyPem));
const image = buildImage({ seed: 'corpus-manifests' });
const work = mkdtempSync(join(tmpdir(), 'sigwatch-corpus-manifests-'));
after(() => rmSync(work, { recursive: true, force: true }));

describe('hostile manifests corpus', () => {
  it('holds the cases the reliability note counts', () => {
    assert.ok(cases.length >= 40, `${cases.length} manifest cases`);
  });

  for (const c of cases) {
    it(`${c.name}: ${c.why}`, { timeout: 30_000 }, async () => {
      let text = fill(c.input.text, { IMAGE_DIGEST: image.digest }) as string;
      if (typeof c.input.padTo === 'number') text = text.padEnd(c.input.padTo, ' ');
      const bytes = Buffer.from(text);
      const mediaType = c.input.mediaType as string;
      let outcome = 'crash';
      let crashed = true;
      let admitted = false;
      try {
        const parse = c.expect.parse;
        if (parse === 'ok') {
          parseManifest(bytes, { digest: sha256Digest(bytes), mediaType, where: 'corpus' });
        } else if (parse.code === 'TOO_LARGE') {
          assert.ok(bytes.length > MAX_MANIFEST_BYTES, 'over the manifest cap');
        } else {
          assert.throws(
            () => parseManifest(bytes, { digest: sha256Digest(bytes), mediaType, where: 'corpus' }),
            (err) => {
              if (!(err instanceof SigwatchError)) return false;
              assert.equal(err.code, parse.code);
              assert.equal(err.message, `corpus: ${parse.message}`);
              return true;
            },
          );
        }
        const dir = join(work, c.name);
        const { manifest, blobs } = imageEntries(image);
        await writeLayout(dir, [manifest, { tag: signatureTag(image.digest), mediaType, bytes }], blobs);
        const verdict = await verifyLayout(dir, policy);
        crashed = false;
        outcome = verdict.verdict;
        admitted = verdict.verdict === 'admit';
        assert.equal(verdict.verdict, 'deny');
        assert.match(verdictText(verdict), new RegExp(c.expect.reason));
      } finally {
        recordCorpusCase({ kind: 'manifests', case: c.name, outcome, admitted, crashed });
      }
    });
  }
});
