import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { predicateUri, PREDICATE_TYPES } from '../../../../src/policy/predicate-types.ts';
import { namesDigest, parseStatement, policyInput, type Statement } from '../../../../src/verify/evidence/attestation/statement.ts';

const HEX = 'ab'.repeat(32);
const statement = (extra: Record<string, unknown> = {}) =>
  Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: 'app', digest: { sha256: HEX } }],
      predicateType: 'https://slsa.dev/provenance/v0.2',
      predicate: {},
      ...extra,
    }),
  );
const parsed = (extra: Record<string, unknown> = {}) => parseStatement(statement(extra)) as Statement;

describe('predicate types', () => {
  it("maps cosign's short names exactly, and takes anything else as the URI", () => {
    assert.deepEqual(PREDICATE_TYPES, {
      custom: 'https://cosign.sigstore.dev/attestation/v1',
      slsaprovenance: 'https://slsa.dev/provenance/v0.2',
      slsaprovenance02: 'https://slsa.dev/provenance/v0.2',
      slsaprovenance1: 'https://slsa.dev/provenance/v1',
      spdx: 'https://spdx.dev/Document',
      spdxjson: 'https://spdx.dev/Document',
      cyclonedx: 'https://cyclonedx.org/bom',
      link: 'https://in-toto.io/Link/v1',
      vuln: 'https://cosign.sigstore.dev/attestation/vuln/v1',
      openvex: 'https://openvex.dev/ns',
    });
    assert.equal(predicateUri('https://example.com/custom/v1'), 'https://example.com/custom/v1');
    assert.equal(predicateUri('toString'), 'toString', 'only own entries are short names');
  });
});

describe('in-toto statements', () => {
  it('reads a statement and finds the image among its subjects', () => {
    const s = parsed();
    assert.equal(namesDigest(s, `sha256:${HEX}`), true);
    assert.equal(namesDigest(s, `sha256:${'cd'.repeat(32)}`), false);
    assert.equal(namesDigest(parsed({ subject: [{ name: 'app', digest: { sha512: HEX } }] }), `sha256:${HEX}`), false);
  });

  it('refuses what is not a statement, naming why', () => {
    assert.deepEqual(parseStatement(Buffer.from('{')), { error: 'in-toto statement is not valid JSON' });
    assert.deepEqual(parseStatement(Buffer.from('[]')), { error: 'in-toto statement is not a JSON object' });
    assert.deepEqual(parseStatement(statement({ predicateType: undefined })), { error: 'in-toto statement has no predicateType' });
    assert.deepEqual(parseStatement(statement({ subject: 'app' })), { error: 'in-toto statement has no subject list' });
    assert.deepEqual(parseStatement(statement({ extra: 1 })), { error: 'in-toto statement has an unknown field "extra"' });
  });

  it('hands policies the whole statement', () => {
    const s = parsed({ predicate: { builder: { id: 'b' }, unknownField: 1 } });
    assert.deepEqual(policyInput('https://slsa.dev/provenance/v0.2', s), {
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: 'app', digest: { sha256: HEX } }],
      predicateType: 'https://slsa.dev/provenance/v0.2',
      predicate: { builder: { id: 'b' }, unknownField: 1 },
    });
  });

  it('slsaprovenance is re-shaped as in-toto Go types do: unknown fields dropped, zero values present', () => {
    const s = parsed({ predicate: { builder: { id: 'b', extra: 1 }, unknownField: 1, materials: [{ uri: 'git+x', extra: 2 }] } });
    assert.deepEqual(policyInput('slsaprovenance', s).predicate, { builder: { id: 'b' }, buildType: '', invocation: {}, materials: [{ uri: 'git+x' }] });
  });

  it('vuln is re-shaped as cosign CosignVulnStatement: no _type, every predicate field present', () => {
    const s = parsed({ predicateType: 'https://cosign.sigstore.dev/attestation/vuln/v1', predicate: { scanner: { uri: 'trivy', result: { ok: true } } } });
    assert.deepEqual(policyInput('vuln', s), {
      subject: [{ name: 'app', digest: { sha256: HEX } }],
      predicateType: 'https://cosign.sigstore.dev/attestation/vuln/v1',
      predicate: {
        invocation: { parameters: null, uri: '', event_id: '', 'builder.id': '' },
        scanner: { uri: 'trivy', version: '', db: { uri: '', version: '' }, result: { ok: true } },
        metadata: { scanStartedOn: '0001-01-01T00:00:00Z', scanFinishedOn: '0001-01-01T00:00:00Z' },
      },
    });
  });
});
