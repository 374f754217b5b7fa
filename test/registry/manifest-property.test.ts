import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SigwatchError } from '../../src/errors.ts';
import { sha256Digest } from '../../src/registry/digest.ts';
import { parseManifest } from '../../src/registry/manifest.ts';
import { MEDIA_TYPES } from '../../src/registry/types.ts';

/**
 * The manifest parser: well-formed manifests and indexes (OCI and Docker)
 * parse to what was written, under the digest of their bytes; any change of
 * a byte is DIGEST_MISMATCH; and no JSON value or byte string makes it throw
 * anything but a SigwatchError.
 */

const runs = { numRuns: 300 };
const hex = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 });
const annotations = fc.option(fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), fc.string({ maxLength: 20 }), { maxKeys: 3 }), { nil: undefined });
const descriptor = fc.record(
  {
    mediaType: fc.constantFrom('application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.dev.cosign.simplesigning.v1+json', 'application/octet-stream'),
    digest: hex.map((h) => `sha256:${h}`),
    size: fc.nat({ max: 2 ** 40 }),
    annotations,
  },
  { requiredKeys: ['mediaType', 'digest', 'size'] },
);
const imageManifest = fc.record({
  schemaVersion: fc.constant(2),
  mediaType: fc.constantFrom(MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest),
  config: descriptor,
  layers: fc.array(descriptor, { maxLength: 5 }),
});
const index = fc.record({
  schemaVersion: fc.constant(2),
  mediaType: fc.constantFrom(MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList),
  manifests: fc.array(descriptor, { maxLength: 5 }),
});

const only = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SigwatchError, `threw ${String(err)}`);
    return err;
  }
  return undefined;
};

describe('manifest parser (property)', () => {
  it('parses generated manifests and indexes to what was written, under their own digest', () => {
    fc.assert(
      fc.property(fc.oneof(imageManifest, index), (json) => {
        const bytes = Buffer.from(JSON.stringify(json));
        const m = parseManifest(bytes, { digest: sha256Digest(bytes), where: 'p' });
        assert.equal(m.digest, sha256Digest(bytes));
        assert.equal(m.mediaType, json.mediaType);
        assert.deepEqual(m.json, JSON.parse(bytes.toString()));
        assert.equal(parseManifest(bytes, { where: 'p' }).digest, m.digest, 'a tag fetch computes the same digest');
      }),
      runs,
    );
  });

  it('refuses any changed byte under the original digest (DIGEST_MISMATCH)', () => {
    fc.assert(
      fc.property(fc.oneof(imageManifest, index), fc.nat(), fc.integer({ min: 1, max: 255 }), (json, at, flip) => {
        const bytes = Buffer.from(JSON.stringify(json));
        const digest = sha256Digest(bytes);
        const changed = Buffer.from(bytes);
        changed.writeUInt8(changed.readUInt8(at % changed.length) ^ flip, at % changed.length);
        const err = only(() => parseManifest(changed, { digest, where: 'p' }));
        assert.equal(err?.code, 'DIGEST_MISMATCH');
      }),
      runs,
    );
  });

  it('throws nothing but SigwatchError for any JSON value, with a known code', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          imageManifest.chain((m) =>
            fc.record({ ...Object.fromEntries(Object.keys(m).map((k) => [k, fc.oneof(fc.constant((m as Record<string, unknown>)[k]), fc.jsonValue())])) }),
          ),
        ),
        (value) => {
          const bytes = Buffer.from(JSON.stringify(value) ?? 'null');
          const err = only(() => parseManifest(bytes, { digest: sha256Digest(bytes), where: 'p' }));
          if (err) assert.equal(err.code, 'REGISTRY_PROTOCOL');
        },
      ),
      runs,
    );
  });

  it('throws nothing but SigwatchError for arbitrary bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.option(fc.constantFrom(...Object.values(MEDIA_TYPES), 'text/html'), { nil: undefined }),
        (raw, mediaType) => {
          const bytes = Buffer.from(raw);
          const err = only(() => parseManifest(bytes, { mediaType, where: 'p' }));
          if (err) assert.equal(err.code, 'REGISTRY_PROTOCOL');
        },
      ),
      runs,
    );
  });
});
