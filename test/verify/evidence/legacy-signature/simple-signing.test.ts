import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cosignPayload, signedDigest } from '../../../../src/verify/evidence/legacy-signature/simple-signing.ts';

const DIGEST = `sha256:${'d34db33f'.repeat(8)}`;

describe('cosignPayload', () => {
  it('writes what cosign signs, byte for byte (sigstore\'s TestMarshalCosign, "no claims")', () => {
    // sigstore pkg/signature/payload/payload_test.go: json.Marshal(Cosign{Image: example.com/test/image@DIGEST}).
    const expected = `{"critical":{"identity":{"docker-reference":"example.com/test/image"},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"cosign container image signature"},"optional":null}`;
    assert.equal(cosignPayload('example.com/test/image', DIGEST).toString('utf8'), expected);
  });

  it('names the repository as go-containerregistry does, port and Docker Hub default included', () => {
    assert.match(cosignPayload('127.0.0.1:5000/team/app', DIGEST).toString('utf8'), /"docker-reference":"127\.0\.0\.1:5000\/team\/app"/);
    assert.match(cosignPayload('index.docker.io/library/ubuntu', DIGEST).toString('utf8'), /"docker-reference":"index\.docker\.io\/library\/ubuntu"/);
  });

  it('is read back as vouching for its digest', () => {
    assert.equal(signedDigest(cosignPayload('example.com/test/image', DIGEST)), DIGEST);
  });
});
