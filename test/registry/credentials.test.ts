import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChallenge } from '../../src/registry/auth.ts';
import { dockerConfigLookup, normalizeAuthKey } from '../../src/registry/credentials.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('Docker config credentials', () => {
  it('reads base64 auth, username/password and identity tokens', async () => {
    const lookup = dockerConfigLookup(
      {
        auths: {
          'registry.example.com': { auth: b64('alice:pa:ss') },
          'ghcr.io': { username: 'bob', password: 'token' },
          'acr.example.io': { identitytoken: 'refresh' },
        },
      },
      'config.json',
    );
    assert.deepEqual(await lookup('registry.example.com', 'team/app'), { kind: 'basic', username: 'alice', password: 'pa:ss' });
    assert.deepEqual(await lookup('ghcr.io', 'org/app'), { kind: 'basic', username: 'bob', password: 'token' });
    assert.deepEqual(await lookup('acr.example.io', 'x'), { kind: 'identity-token', token: 'refresh', username: undefined });
    assert.equal(await lookup('quay.io', 'x'), undefined);
  });

  it('refuses a registrytoken a header cannot carry, without quoting it', () => {
    // Sent as it is in an Authorization header (with the first request, over HTTPS): fetch would fail quoting the value.
    assert.throws(
      () => dockerConfigLookup({ auths: { 'registry.example.com': { registrytoken: 'tok\nS3cret' } } }, 'config.json'),
      (e: Error & { code?: string }) =>
        e.code === 'CONFIG' &&
        e.message === 'config.json: auths["registry.example.com"].registrytoken is not a bearer token (visible ASCII only)' &&
        !e.message.includes('S3cret'),
    );
  });

  it('gives the longest matching repository prefix and never a sibling namespace', async () => {
    const lookup = dockerConfigLookup(
      {
        auths: {
          'https://index.docker.io/v1/': { auth: b64('hub:wide') },
          'index.docker.io/privatenamespace': { auth: b64('ns:narrow') },
        },
      },
      'secret',
    );
    assert.equal((await lookup('index.docker.io', 'privatenamespace/app'))?.kind, 'basic');
    assert.deepEqual(await lookup('index.docker.io', 'privatenamespace/app'), { kind: 'basic', username: 'ns', password: 'narrow' });
    assert.deepEqual(await lookup('index.docker.io', 'privatenamespace-other/app'), { kind: 'basic', username: 'hub', password: 'wide' });
    assert.deepEqual(await lookup('index.docker.io', 'library/nginx'), { kind: 'basic', username: 'hub', password: 'wide' });
  });

  it('accepts the bare auths map of a .dockercfg pull secret', async () => {
    const lookup = dockerConfigLookup({ 'r.example.com:5000': { auth: b64('u:p') } }, '.dockercfg');
    assert.deepEqual(await lookup('r.example.com:5000', 'a'), { kind: 'basic', username: 'u', password: 'p' });
  });

  it('rejects malformed entries naming where, without echoing secrets', () => {
    assert.throws(
      () => dockerConfigLookup({ auths: { 'r.io': { auth: b64('no-colon-secret') } } }, 'cfg.json'),
      (e: Error) => {
        assert.match(e.message, /cfg\.json: auths\["r\.io"\]\.auth/);
        assert.doesNotMatch(e.message, /no-colon-secret/);
        return true;
      },
    );
    assert.throws(() => dockerConfigLookup({ auths: 'x' }, 'cfg.json'), /expected an object/);
  });

  it('normalises auth keys the way docker does', () => {
    assert.equal(normalizeAuthKey('https://index.docker.io/v1/'), 'index.docker.io');
    assert.equal(normalizeAuthKey('docker.io'), 'index.docker.io');
    assert.equal(normalizeAuthKey('registry-1.docker.io/team'), 'index.docker.io/team');
    assert.equal(normalizeAuthKey('http://Registry.Example.com:5000/v2/'), 'registry.example.com:5000');
  });
});

describe('WWW-Authenticate challenges', () => {
  it('parses Bearer with quoted and unquoted parameters', () => {
    assert.deepEqual(parseChallenge('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a:pull"'), {
      scheme: 'bearer',
      realm: 'https://auth.example.com/token',
      service: 'registry.example.com',
    });
    assert.deepEqual(parseChallenge('bearer realm=https://a/t'), { scheme: 'bearer', realm: 'https://a/t', service: undefined });
  });
  it('parses Basic and rejects what it cannot use', () => {
    assert.deepEqual(parseChallenge('Basic realm="Registry Realm"'), { scheme: 'basic' });
    assert.equal(parseChallenge('Bearer service="x"'), undefined);
    assert.equal(parseChallenge('Negotiate'), undefined);
    assert.equal(parseChallenge(null), undefined);
  });
});
