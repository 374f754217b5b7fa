import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matchedSubject } from '../../src/verify/identities.ts';

const cert = {
  issuer: 'https://token.actions.githubusercontent.com',
  sans: ['https://github.com/acme/other/.github/workflows/ci.yml@refs/heads/main', 'release@acme.example'],
};

describe('identity matching (cosign CheckCertificatePolicy)', () => {
  it('returns the SAN that matched, not the first one', () => {
    assert.equal(matchedSubject([{ issuer: cert.issuer, subject: 'release@acme.example' }], cert), 'release@acme.example');
    assert.equal(matchedSubject([{ issuerRegExp: 'githubusercontent', subjectRegExp: '@acme\\.example$' }], cert), 'release@acme.example');
  });

  it('prefers a regexp over an exact value, matches unanchored, and treats a missing constraint as any', () => {
    // subjectRegExp wins over subject when both are given, as in cosign.
    assert.equal(matchedSubject([{ issuer: cert.issuer, subject: 'nobody', subjectRegExp: 'acme/other' }], cert), cert.sans[0]);
    assert.equal(matchedSubject([{ issuerRegExp: 'actions', subject: 'release@acme.example' }], cert), 'release@acme.example');
    assert.equal(matchedSubject([{ issuer: cert.issuer }], cert), cert.sans[0]);
  });

  it('matches nothing on a wrong issuer or subject, trying every identity listed', () => {
    assert.equal(matchedSubject([{ issuer: 'https://gitlab.com', subject: 'release@acme.example' }], cert), undefined);
    assert.equal(matchedSubject([{ issuer: cert.issuer, subjectRegExp: '^release@evil' }], cert), undefined);
    assert.equal(
      matchedSubject(
        [
          { issuer: 'https://gitlab.com', subject: 'x' },
          { issuer: cert.issuer, subject: 'release@acme.example' },
        ],
        cert,
      ),
      'release@acme.example',
    );
  });
});
