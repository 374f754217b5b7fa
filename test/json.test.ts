import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { containerCount, duplicateKey, goFieldMatches } from '../src/json.ts';

describe('duplicateKey', () => {
  it('finds a key twice in one object, at any depth, with its path', () => {
    assert.deepEqual(duplicateKey('{"a":1,"a":2}'), { key: 'a', path: '' });
    assert.deepEqual(duplicateKey('{"critical":{"image":{"d":"x","d":"y"}}}'), { key: 'd', path: 'critical.image' });
    assert.deepEqual(duplicateKey('{"subject":[{"digest":{}},{"digest":{"sha256":"a","sha256":"b"}}]}'), { key: 'sha256', path: 'subject[1].digest' });
    assert.deepEqual(duplicateKey('{"odd key":{"k":1,"k":2}}'), { key: 'k', path: '["odd key"]' });
    assert.deepEqual(duplicateKey('[[1,{"x":{"y":0},"x":1}]]'), { key: 'x', path: '[0][1]' });
  });

  it('compares decoded keys: an escape is the character it stands for', () => {
    assert.deepEqual(duplicateKey('{"ab":1,"a\\u0062":2}'), { key: 'ab', path: '' });
    assert.deepEqual(duplicateKey('{"\\"":1,"\\u0022":2}'), { key: '"', path: '' });
    assert.deepEqual(duplicateKey('{"\\ud83d\\ude00":1,"😀":2}'), { key: '😀', path: '' });
    assert.deepEqual(duplicateKey('{"\\ud800":1,"\\udc00":2}'), { key: '\ufffd', path: '' }, 'lone surrogates are U+FFFD to Go');
  });

  it('is silent where no object repeats a key: equal keys in sibling objects, values that look like keys', () => {
    assert.equal(duplicateKey('{"a":{"b":1},"c":{"b":1},"d":["a","a"],"e":"a"}'), undefined);
    assert.equal(duplicateKey('{"a":"x\\"y","b":"\\\\","c":"{\\"a\\":1,\\"a\\":2}"}'), undefined);
    assert.equal(duplicateKey('{"A":1,"a":2}'), undefined, 'exact comparison: case variants are a Go-struct matter');
    assert.equal(duplicateKey('{"__proto__":1,"constructor":2}'), undefined);
    assert.equal(duplicateKey(' [ 1 , true , null , -2.5e3 , { } ] '), undefined);
  });

  it('is linear and iterative: deep nesting and many keys neither overflow the stack nor slow down', () => {
    const depth = 1_000_000;
    assert.equal(duplicateKey('['.repeat(depth) + ']'.repeat(depth)), undefined);
    const deep = '{"a":'.repeat(100_000) + '{"x":1,"x":2}' + '}'.repeat(100_000);
    assert.equal(duplicateKey(deep)?.key, 'x');
    const many = `{${Array.from({ length: 200_000 }, (_, i) => `"k${i}":${i}`).join(',')},"k7":0}`;
    assert.deepEqual(duplicateKey(many), { key: 'k7', path: '' });
  });
});

describe('goFieldMatches (Go encoding/json field names)', () => {
  it('matches ASCII case variants and the two non-ASCII letters that fold to ASCII', () => {
    assert.ok(goFieldMatches('Critical', 'critical'));
    assert.ok(goFieldMatches('DOCKER-MANIFEST-DIGEST', 'docker-manifest-digest'));
    assert.ok(goFieldMatches('doc\u212aer-manifest-digest', 'docker-manifest-digest'), 'Kelvin sign folds to k');
    assert.ok(goFieldMatches('dige\u017ft', 'digest'), 'long s folds to s');
  });

  it('does not match other characters or lengths', () => {
    assert.equal(goFieldMatches('critica', 'critical'), false);
    assert.equal(goFieldMatches('crıtical', 'critical'), false, 'dotless i does not fold to i');
    assert.equal(goFieldMatches('docker_manifest_digest', 'docker-manifest-digest'), false);
  });
});

describe('containerCount', () => {
  it('counts objects and arrays outside strings, and stops past the limit', () => {
    assert.equal(containerCount('{"a":[{},[]],"b":"{[\\"["}', 100), 4);
    assert.equal(containerCount('[[[[[[', 3), 4);
    assert.equal(containerCount('"unterminated {', 10), 0);
  });
});
