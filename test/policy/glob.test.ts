import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileGlob, globMatches, globSyntaxError } from '../../src/policy/glob.ts';

const DIGEST = 'sha256:5504f2a95018e3d8a52d80d9e1a128c6ea337581808ff9fe96f5628ce2336350';

interface Case {
  image: string;
  glob: string;
  match: boolean;
  /** upstream glob.Match returns an error (we throw). */
  error?: boolean;
}

// policy-controller pkg/apis/glob/glob_test.go TestGlobMatch, case for case.
const upstream: Case[] = [
  { image: 'foo', glob: 'index.docker.io/library/foo:latest', match: true },
  { image: 'foo', glob: 'index.docker.io/library/foo:*', match: true },
  { image: 'foo', glob: 'index.docker.io/library/*', match: true },
  { image: 'foo', glob: 'index.docker.io/library/*:latest', match: true },
  { image: 'foo', glob: 'index.docker.io/*/*', match: true },
  { image: 'foo', glob: 'index.docker.io/**', match: true },
  { image: 'foo', glob: 'index.docker.**', match: true },
  { image: 'foo', glob: 'inde**', match: true },
  { image: 'foo', glob: '**', match: true },
  { image: 'foo', glob: 'foo', match: true }, // the deprecated fallback to the image as written
  { image: 'foo', glob: 'foo*', match: true },
  { image: 'foo', glob: 'foo**', match: true },
  { image: 'myuser/myapp', glob: 'index.docker.io/myuser/myapp:latest', match: true },
  { image: 'myuser/myapp', glob: 'index.docker.io/myuser/myapp:*', match: true },
  { image: 'myuser/myapp', glob: 'index.docker.io/myuser/*', match: true },
  { image: 'myuser/myapp', glob: 'index.docker.io/myuser/*:latest', match: true },
  { image: 'myuser/myapp', glob: 'index.docker.io/*/*', match: true },
  { image: 'myuser/myapp', glob: 'index.docker.io/**', match: true },
  { image: 'myuser/myapp', glob: 'index.docker.**', match: true },
  { image: 'myuser/myapp', glob: 'inde**', match: true },
  { image: 'myuser/myapp', glob: '**', match: true },
  { image: 'myuser/myapp', glob: 'myuser/myapp', match: true },
  { image: 'myuser/myapp', glob: 'myuser/myapp*', match: true },
  { image: 'myuser/myapp', glob: 'myuser/myapp**', match: true },
  { image: 'ghcr.io/foo/bar', glob: 'ghcr.io/*/*', match: true },
  { image: 'ghcr.io/foo/bar', glob: 'ghcr.io/**', match: true },
  { image: 'ghcr.io/foo', glob: 'ghcr.io/*/*', match: false },
  { image: 'ghcr.io/foo', glob: 'ghcr.io/**', match: true },
  { image: 'ghcr.io/foo', glob: 'ghc**', match: true },
  { image: 'ghcr.io/foo', glob: '**', match: true },
  { image: 'ghcr.io/foo', glob: '*/**', match: true },
  { image: 'ghcr.io/foo', glob: 'ghcr.io/foo*', match: true },
  { image: 'ghcr.io/foo', glob: 'ghcr.io/foo**', match: true },
  { image: 'prefix-ghcr.io/foo', glob: 'ghcr.io/foo', match: false },
  { image: 'ghcr.io/foo-suffix', glob: 'ghcr.io/foo', match: false },
  { image: 'ghcrxio/foo', glob: 'ghcr.io/**', match: false },
  { image: 'invalid&name', glob: '**', match: false, error: true },
  { image: 'invalid-glob', glob: '.+', match: false, error: true },
  { image: 'invalid-glob', glob: '[a-z]*', match: false, error: true },
  { image: 'foo', glob: '*', match: true },
  { image: 'myuser/myapp', glob: '*/*', match: true },
  { image: `ghcr.io/foo@${DIGEST}`, glob: `ghcr.io/foo@${DIGEST}`, match: true },
];

// Ours: the same rules on the shapes people write.
const more: Case[] = [
  // Docker Hub names: docker.io is an alias, library/ is implied for single names.
  { image: 'docker.io/library/busybox:1.36', glob: 'index.docker.io/library/busybox:*', match: true },
  { image: 'docker.io/busybox', glob: 'index.docker.io/library/busybox:latest', match: true },
  { image: 'index.docker.io/busybox', glob: 'index.docker.io/library/busybox*', match: true },
  { image: 'busybox:1.36', glob: 'docker.io/library/busybox:*', match: false }, // globs are not normalised
  { image: 'busybox:1.36', glob: 'busybox:*', match: true }, // only through the fallback to the image as written
  { image: 'busybox', glob: 'busybox', match: true },
  { image: 'busybox', glob: '*', match: true },
  { image: 'ghcr.io/foo', glob: '*', match: false }, // `*` means index.docker.io/library/*
  { image: 'ghcr.io/org/app', glob: '*/*', match: false }, // `*/*` means index.docker.io/*/*
  // `*` stays within one path segment but covers the tag and the digest.
  { image: 'ghcr.io/org/app:v1', glob: 'ghcr.io/org/*', match: true },
  { image: 'ghcr.io/org/team/app:v1', glob: 'ghcr.io/org/*', match: false },
  { image: 'ghcr.io/org/team/app:v1', glob: 'ghcr.io/org/**', match: true },
  { image: `ghcr.io/org/app@${DIGEST}`, glob: 'ghcr.io/org/app*', match: true },
  { image: `ghcr.io/org/app@${DIGEST}`, glob: 'ghcr.io/org/app:*', match: false },
  { image: `ghcr.io/org/app:v1@${DIGEST}`, glob: `ghcr.io/org/app@${DIGEST}`, match: true }, // the tag is dropped
  { image: 'ghcr.io/org/app', glob: 'ghcr.io/org/app', match: true }, // the fallback again (the full name has :latest)
  { image: 'ghcr.io/org/app:latest', glob: 'ghcr.io/org/app', match: false },
  { image: 'ghcr.io/org/app', glob: 'ghcr.io/org/app:latest', match: true },
  // Ports and localhost are registries.
  { image: 'localhost:5000/app:dev', glob: 'localhost:5000/*', match: true },
  { image: 'localhost:5000/app:dev', glob: 'localhost:*/app:dev', match: true },
  { image: 'localhost/app', glob: 'localhost/app:latest', match: true },
  { image: 'localhost/app', glob: 'index.docker.io/**', match: false },
  { image: 'registry.example.com:8443/team/app:1.2', glob: 'registry.example.com:8443/team/**', match: true },
  // `**` crosses registries; `.` is literal.
  { image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1', glob: '*.dkr.ecr.*.amazonaws.com/**', match: true },
  { image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1', glob: '**.amazonaws.com/**', match: true },
  { image: 'quay.io/org/app', glob: '**/org/**', match: true },
  { image: 'quayxio/org/app', glob: 'quay.io/**', match: false },
  // Anchored at both ends.
  { image: 'ghcr.io/org/app:v1', glob: 'org/app**', match: false },
  { image: 'ghcr.io/org/app:v1', glob: 'ghcr.io/org/app:v', match: false },
  // Invalid images are errors, never matches.
  { image: 'GHCR.io/Org/App', glob: '**', match: false, error: true },
  { image: 'ghcr.io/org/app:', glob: '**', match: false, error: true },
];

describe('globMatches', () => {
  for (const c of [...upstream, ...more]) {
    it(`${c.glob} ${c.error ? 'errors on' : c.match ? 'matches' : 'does not match'} ${c.image}`, () => {
      if (c.error) assert.throws(() => globMatches(c.glob, c.image), /./);
      else assert.equal(globMatches(c.glob, c.image), c.match);
    });
  }

  it('has at least the upstream table and 40 cases', () => {
    assert.equal(upstream.length, 42);
    assert.ok(upstream.length + more.length >= 70);
  });
});

describe('compileGlob', () => {
  it('compiles once and matches many images', () => {
    const matches = compileGlob('ghcr.io/org/**');
    assert.deepEqual(['ghcr.io/org/a', 'ghcr.io/other/a', 'ghcr.io/org/b/c@' + DIGEST].map(matches), [true, false, true]);
  });

  it('throws for an invalid glob', () => {
    assert.throws(() => compileGlob('ghcr.io/org/app:v?'), { code: 'POLICY_INVALID', message: 'invalid glob "ghcr.io/org/app:v?"' });
  });
});

describe('globSyntaxError (upstream ValidateGlob)', () => {
  const cases: [string, string | undefined][] = [
    ['ghcr.io/**', undefined],
    ['*', undefined],
    ['[', 'syntax error in pattern'],
    ['ghcr.io/[a-', 'syntax error in pattern'],
    ['ghcr.io/\\', 'syntax error in pattern'],
    ['ghcr.io/[]a]', 'syntax error in pattern'],
    // Valid filepath.Match syntax is still not a valid glob.
    ['ghcr.io/[a-z]*', 'invalid glob "ghcr.io/[a-z]*"'],
    ['ghcr.io/app?', 'invalid glob "ghcr.io/app?"'],
    ['$FOO*', 'invalid glob "$FOO*"'],
    ['ghcr.io/app tag', 'invalid glob "ghcr.io/app tag"'],
  ];
  for (const [glob, reason] of cases) {
    it(`${glob}: ${reason ?? 'valid'}`, () => assert.equal(globSyntaxError(glob), reason));
  }
});

describe('glob matching cost', () => {
  it('is linear: a glob full of stars against a long name returns at once', () => {
    const glob = `ghcr.io/${'*a'.repeat(12)}b`;
    const started = performance.now();
    assert.equal(globMatches(glob, `ghcr.io/${'a'.repeat(60)}`), false);
    assert.ok(performance.now() - started < 1000, 'RE2 matching must not backtrack');
  });
});
