import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isDigest,
  parseFetchableReference,
  parseGoUrl,
  parseReference,
  parseRegistry,
  parseRepository,
  withDigest,
  withTag,
} from '../../src/registry/reference.ts';

// Name tables from go-containerregistry pkg/name *_test.go, written out as data.
const DIGEST = 'sha256:deadb33fdeadb33fdeadb33fdeadb33fdeadb33fdeadb33fdeadb33fdeadb33f';

describe('parseReference: go-containerregistry name tables', () => {
  const goodTags = [
    'gcr.io/g-convoy/hello-world:latest',
    'gcr.io/google.com/g-convoy/hello-world:latest',
    'gcr.io/project-id/with-nums:v2',
    'us.gcr.io/project-id/image:with.period.in.tag',
    'gcr.io/project-id/image:w1th-alpha_num3ric.PLUScaps',
    'domain.with.port:9001/image:latest',
  ];
  const goodWeakTags = ['namespace/pathcomponent/image', 'library/ubuntu', 'gcr.io/project-id/implicit-latest', 'www.example.test:12345/repo/path'];
  const badTags = [
    "gcr.io/project-id/bad_chars:c@n'tuse",
    'gcr.io/project-id/wrong-length:white space',
    'gcr.io/project-id/too-many-chars:' + 'x'.repeat(129),
    'library/ubuntu:',
  ];
  const goodDigests = [
    `gcr.io/g-convoy/hello-world@${DIGEST}`,
    `gcr.io/google.com/project-id/hello-world@${DIGEST}`,
    `us.gcr.io/project-id/sub-repo@${DIGEST}`,
    `example.text/foo/bar@${DIGEST}`,
    `namespace/pathcomponent/image@${DIGEST}`,
    `library/ubuntu@${DIGEST}`,
    `example.text/foo/bar:latest@${DIGEST}`,
    `example.text:8443/foo/bar:latest@${DIGEST}`,
    `nginx:latest@${DIGEST}`,
  ];
  const badDigests = [
    'gcr.io/project-id/unknown-alg@unknown:abc123',
    'gcr.io/project-id/wrong-length@sha256:d34db33fd34db33f',
    'gcr.io/project-id/missing-digest@',
    'repo@sha256:' + ':'.repeat(64),
    'repo@sha256:' + 'sh'.repeat(32),
    `repo@sha256:${DIGEST}@${DIGEST}`,
    `library/nginx:@${DIGEST}`,
  ];

  for (const name of [...goodTags, ...goodWeakTags, ...goodDigests]) it(`parses ${name}`, () => assert.ok(parseReference(name)));
  for (const name of [...badTags, ...badDigests]) {
    it(`refuses ${name}`, () => assert.throws(() => parseReference(name), { code: 'REFERENCE_INVALID', message: /^could not parse reference: / }));
  }

  it('reproduces fully qualified names', () => {
    for (const name of [...goodTags, ...goodDigests.slice(0, 4)]) assert.equal(parseReference(name).name, name);
  });
});

describe('parseReference: names as policy globs see them', () => {
  const names: [string, string][] = [
    ['ubuntu', 'index.docker.io/library/ubuntu:latest'],
    ['ubuntu:22.04', 'index.docker.io/library/ubuntu:22.04'],
    ['library/ubuntu', 'index.docker.io/library/ubuntu:latest'],
    ['myuser/myapp', 'index.docker.io/myuser/myapp:latest'],
    ['docker.io/busybox', 'index.docker.io/library/busybox:latest'],
    ['index.docker.io/busybox', 'index.docker.io/library/busybox:latest'],
    ['docker.io/myuser/myapp:v1', 'index.docker.io/myuser/myapp:v1'],
    ['localhost/testimage:mytag', 'localhost/testimage:mytag'],
    ['localhost:5000/app', 'localhost:5000/app:latest'],
    ['127.0.0.1:5000/a/b/c:dev', '127.0.0.1:5000/a/b/c:dev'],
    ['[::1]:5000/app', '[::1]:5000/app:latest'],
    ['ghcr.io/org/app:.hidden-tag', 'ghcr.io/org/app:.hidden-tag'],
    ['ghcr.io/org/app:-dash', 'ghcr.io/org/app:-dash'],
    [`nginx:1.25@${DIGEST}`, `index.docker.io/library/nginx@${DIGEST}`],
    [`localhost:5000/app:v1@${DIGEST}`, `localhost:5000/app@${DIGEST}`],
    // go-containerregistry checks characters, not path structure.
    ['ghcr.io/a//b', 'ghcr.io/a//b:latest'],
    ['ghcr.io/-a/b.', 'ghcr.io/-a/b.:latest'],
    // Registry hosts keep their case.
    ['GHCR.io/org/app', 'GHCR.io/org/app:latest'],
  ];
  for (const [input, name] of names) it(`${input} → ${name}`, () => assert.equal(parseReference(input).name, name));

  it('splits registry, repository, tag and digest', () => {
    assert.deepEqual(parseReference('busybox'), {
      registry: 'index.docker.io',
      repository: 'library/busybox',
      repositoryName: 'index.docker.io/library/busybox',
      tag: 'latest',
      name: 'index.docker.io/library/busybox:latest',
    });
    const pinned = parseReference(`ghcr.io/org/app:v1@${DIGEST}`);
    assert.equal(pinned.tag, undefined);
    assert.equal(pinned.digest, DIGEST);
    assert.equal(pinned.repository, 'org/app');
  });

  it('enforces the character and length limits', () => {
    assert.ok(parseReference(`ghcr.io/${'a'.repeat(255)}`));
    assert.throws(() => parseReference(`ghcr.io/${'a'.repeat(256)}`), /repository must be between 1 and 255 characters in length/);
    assert.ok(parseReference(`ghcr.io/a:${'t'.repeat(128)}`));
    assert.throws(() => parseReference('ghcr.io/Org/app'), /repository can only contain the characters `abcdefghijklmnopqrstuvwxyz0123456789_-.\/`: Org\/app/);
    assert.throws(() => parseReference('ghcr.io/org/app:v1+build'), /tag can only contain the characters/);
    assert.throws(() => parseReference('white space/app'), /could not parse reference/);
    assert.throws(() => parseReference('user@ghcr.io/app'), /could not parse reference/);
    assert.throws(() => parseReference('ghcr.io/app@sha256:ABCDEF'), /invalid checksum digest length/);
    assert.throws(() => parseReference(`ghcr.io/app@${DIGEST.toUpperCase().replace('SHA', 'sha')}`), /invalid checksum digest format/);
    assert.throws(() => parseReference(''), /a repository name must be specified/);
  });
});

describe('parseRepository / parseRegistry', () => {
  it('follows go-containerregistry for repositories', () => {
    for (const name of ['gcr.io/g-convoy/hello-world', 'mirror.gcr.io/ubuntu', 'index.docker.io/library/ubuntu', 'example.com/a/b']) {
      assert.equal(parseRepository(name, { strict: true }).repositoryName, name);
    }
    for (const name of ['namespace/pathcomponent/image', 'library/ubuntu', 'ubuntu', 'a', '0']) {
      assert.ok(parseRepository(name));
      assert.throws(() => parseRepository(name, { strict: true }));
    }
    for (const name of ['white space', 'b@char/image', '']) assert.throws(() => parseRepository(name));
    assert.throws(
      () => parseRepository('index.docker.io/ubuntu', { strict: true }),
      /strict validation requires the full repository path \(missing 'library'\)/,
    );
  });

  it('follows go-containerregistry for registries', () => {
    for (const name of ['gcr.io', 'gcr.io:9001', 'index.docker.io', 'us.gcr.io', 'example.text', 'localhost', 'localhost:9090']) {
      assert.equal(parseRegistry(name, { strict: true }), name);
    }
    assert.equal(parseRegistry(''), 'index.docker.io');
    assert.equal(parseRegistry('docker.io'), 'index.docker.io');
    assert.throws(() => parseRegistry('', { strict: true }), /strict validation requires the registry to be explicitly defined/);
    for (const name of ['white space', 'gcr?com', 'gcr#com', 'user@gcr.io', 'gcr.io:port', 'gcr%2eio']) {
      assert.throws(() => parseRegistry(name), { message: `registries must be valid RFC 3986 URI authorities: ${name}` });
    }
  });
});

describe('withTag / withDigest / isDigest', () => {
  it('re-targets a repository', () => {
    const ref = parseReference('ghcr.io/org/app:v1');
    assert.equal(withTag(ref, 'v2').name, 'ghcr.io/org/app:v2');
    assert.equal(withDigest(ref, DIGEST).name, `ghcr.io/org/app@${DIGEST}`);
    assert.ok(isDigest(DIGEST));
    assert.ok(!isDigest('sha256:abc'));
  });
});

describe('parseGoUrl (Go net/url)', () => {
  it('parses what Go parses', () => {
    assert.deepEqual(parseGoUrl('HTTPS://fulcio.example.com:8443/api?x=1#frag'), {
      scheme: 'https',
      host: 'fulcio.example.com:8443',
      opaque: '',
      path: '/api',
    });
    assert.equal(parseGoUrl('urn:example:thing').opaque, 'example:thing');
    assert.equal(parseGoUrl('relative/path').path, 'relative/path');
    assert.equal(parseGoUrl('https://[::1]:443/').host, '[::1]:443');
  });

  it("refuses what Go refuses, with Go's message", () => {
    assert.throws(() => parseGoUrl('http://[::1'), { message: 'parse "http://[::1": missing \']\' in host' });
    assert.throws(() => parseGoUrl('https://host:port'), { message: 'parse "https://host:port": invalid port ":port" after host' });
    assert.throws(() => parseGoUrl(':nope'), { message: 'parse ":nope": missing protocol scheme' });
    assert.throws(() => parseGoUrl('a:b/c'.replace('a', '1a')), { message: 'parse "1a:b/c": first path segment in URL cannot contain colon' });
    assert.throws(() => parseGoUrl('https://host/%zz'), { message: 'parse "https://host/%zz": invalid URL escape "%zz"' });
    assert.throws(() => parseGoUrl('https://ho st/'), { message: 'parse "https://ho st/": invalid character " " in host name' });
    assert.throws(() => parseGoUrl('https://host/\n'), /invalid control character in URL/);
  });

  it('ParseRequestURI needs an absolute URI or path', () => {
    assert.ok(parseGoUrl('https://slsa.dev/provenance/v1', { request: true }));
    assert.ok(parseGoUrl('/absolute', { request: true }));
    assert.throws(() => parseGoUrl('spdxjson', { request: true }), { message: 'parse "spdxjson": invalid URI for request' });
  });
});

describe('parseFetchableReference: go-containerregistry and the distribution grammar both', () => {
  it('takes what registries serve', () => {
    for (const name of [
      'ubuntu',
      'library/ubuntu:22.04',
      'localhost:5000/app',
      '127.0.0.1:5000/a/b/c:dev',
      '[::1]:5000/app',
      'ghcr.io/org/a__b/c--d/e.f_g:v1',
      `ghcr.io/org/app:v1@${DIGEST}`,
      'GHCR.io/org/app',
      'ghcr.io/org/app:_tag',
    ]) {
      assert.deepEqual(parseFetchableReference(name), parseReference(name), name);
    }
  });

  it('refuses what go-containerregistry takes but no registry serves, naming the part', () => {
    for (const [name, part] of [
      ['ghcr.io/dev/../prod/app', 'path component "\\.\\." of "dev/\\.\\./prod/app"'],
      ['ghcr.io/a//b', 'empty path component in "a//b"'],
      ['ghcr.io/-a/b.', 'path component "-a"'],
      ['ghcr.io/a___b', 'path component "a___b"'],
      ['my_host.example/app', 'registry "my_host\\.example"'],
      ['ghcr.io/org/app:.hidden-tag', 'tag "\\.hidden-tag"'],
      [`ghcr.io/${'a/'.repeat(124)}app`, 'name of 259 characters is longer than 255'],
    ] as const) {
      assert.ok(parseReference(name));
      assert.throws(() => parseFetchableReference(name), {
        code: 'REFERENCE_INVALID',
        message: new RegExp(`^could not parse reference: ${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(${part}.*: not a distribution reference\\)$`),
      });
    }
  });
});
