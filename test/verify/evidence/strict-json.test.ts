import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VerificationError } from '../../../src/verify/errors.ts';
import { parseEvidenceJson, refuseGoFieldVariants } from '../../../src/verify/evidence/strict-json.ts';
import { signedDigest } from '../../../src/verify/evidence/legacy-signature/simple-signing.ts';
import { parseStatement } from '../../../src/verify/evidence/attestation/statement.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const OTHER = `sha256:${'cd'.repeat(32)}`;
const malformed = (pattern: RegExp) => (err: unknown) => err instanceof VerificationError && err.code === 'EVIDENCE_MALFORMED' && pattern.test(err.message);

describe('parseEvidenceJson', () => {
  it('refuses a duplicate key naming it and where', () => {
    assert.throws(() => parseEvidenceJson('{"a":{"b":1,"b":2}}', 'bundle'), malformed(/^bundle has the key "b" twice in a; duplicate keys are refused/));
    assert.throws(() => parseEvidenceJson('{', 'bundle'), malformed(/^bundle is not valid JSON$/));
    assert.deepEqual(parseEvidenceJson('{"a":[1]}', 'bundle'), { a: [1] });
  });

  it('refuses millions of tiny objects before parsing them, and counts none inside strings', () => {
    const flood = `[${'{},'.repeat(300_000)}{}]`;
    assert.throws(() => parseEvidenceJson(flood, 'bundle'), malformed(/^bundle has more than 200000 JSON objects and arrays; not read$/));
    const quoted = JSON.stringify({ payload: '{['.repeat(300_000) });
    assert.equal((parseEvidenceJson(quoted, 'bundle') as { payload: string }).payload.length, 600_000);
  });

  it('refuseGoFieldVariants: case variants of struct fields, in nested structs and list elements', () => {
    const shape = { payload: null, signatures: [{ sig: null }] } as const;
    assert.throws(() => refuseGoFieldVariants({ payload: 'a', Payload: 'b' }, shape, 'envelope'), malformed(/"Payload", which cosign .* reads as "payload"/));
    assert.throws(() => refuseGoFieldVariants({ signatures: [{ sig: 'a' }, { SIG: 'b' }] }, shape, 'envelope'), malformed(/"SIG" in signatures\[1\]/));
    assert.doesNotThrow(() => refuseGoFieldVariants({ payload: 'a', other: { Payload: 1 } }, shape, 'envelope'));
  });
});

describe('signedDigest (simple-signing payloads as cosign reads them)', () => {
  const payload = (critical: string) => Buffer.from(`{"critical":${critical},"optional":null}`);
  const good = `{"identity":{"docker-reference":"r/a"},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"cosign container image signature"}`;

  it('reads the digest of a payload cosign writes', () => {
    assert.equal(signedDigest(payload(good)), DIGEST);
  });

  it('refuses case variants at every struct level cosign reads', () => {
    const critical = (c: string) => `{"critical":${c}}`;
    const cases: [string, RegExp][] = [
      [`{"critical":${good},"Critical":{"image":{"docker-manifest-digest":"${OTHER}"}}}`, /key "Critical", which .* reads as "critical"/],
      [critical(good.replace('"image":{', `"image":{"Docker-Manifest-Digest":"${OTHER}",`)), /key "Docker-Manifest-Digest" in critical\.image/],
      [critical(good.replace('"image":{', `"image":{"doc\u212aer-manifest-digest":"${OTHER}",`)), /key "doc\u212aer-manifest-digest" in critical\.image/],
      [critical(good.replace('"type":', '"TYPE":"x","type":')), /key "TYPE" in critical/],
      [critical(good.replace('"identity":', '"Image":{},"identity":')), /key "Image" in critical/],
      [`{"critical":${good},"Optional":{}}`, /key "Optional"/],
    ];
    for (const [text, pattern] of cases) assert.throws(() => signedDigest(Buffer.from(text)), malformed(pattern), text);
  });

  it('refuses duplicate keys anywhere, including in optional (a Go map: its keys are exact, case variants allowed)', () => {
    assert.throws(
      () => signedDigest(Buffer.from(`{"critical":${good.replace(`"${DIGEST}"`, `"${DIGEST}","docker-manifest-digest":"${OTHER}"`)}}`)),
      malformed(/key "docker-manifest-digest" twice in critical\.image/),
    );
    assert.throws(() => signedDigest(Buffer.from(`{"critical":${good},"optional":{"a":1,"a":2}}`)), malformed(/"a" twice in optional/));
    assert.equal(signedDigest(Buffer.from(`{"critical":${good},"optional":{"Team":"a","team":"b"}}`)), DIGEST);
  });
});

describe('parseStatement', () => {
  it('refuses subject twice, and a duplicate inside a subject or the predicate', () => {
    const s = `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"${'ab'.repeat(32)}"}}],"predicateType":"x","predicate":{}}`;
    assert.equal('error' in parseStatement(Buffer.from(s)), false);
    const twice = s.replace('"predicateType"', `"subject":[{"digest":{"sha256":"${'cd'.repeat(32)}"}}],"predicateType"`);
    assert.deepEqual(parseStatement(Buffer.from(twice)), {
      error:
        'in-toto statement has the key "subject" twice; duplicate keys are refused (sigstore-go\'s protojson refuses them, JSON.parse and Go\'s encoding/json would keep the last)',
    });
    const inPredicate = s.replace('"predicate":{}', '"predicate":{"a":{"b":1,"b":2}}');
    assert.match((parseStatement(Buffer.from(inPredicate)) as { error: string }).error, /key "b" twice in predicate\.a/);
  });
});
