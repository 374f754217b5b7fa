import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { sigwatch } from '../support/cli.ts';

/**
 * policy-controller's TestGlobMatch table, in full and in its order, through
 * `sigwatch policy match` (the command a user runs), from
 * sigstore/policy-controller pkg/apis/glob/glob_test.go at commit
 * 6ac055c9327a08c031628f71f669a2060c15c8d0 (unchanged up to f925c0c1a412910787a7f045581fa9d5ed09a20a).
 * wantErr is exit 2: an invalid image is a usage error, an invalid glob an invalid policy.
 */
const DIGEST = 'sha256:5504f2a95018e3d8a52d80d9e1a128c6ea337581808ff9fe96f5628ce2336350';
const TABLE: { image: string; glob: string; wantMatch: boolean; wantErr?: boolean }[] = [
  { image: 'foo', glob: 'index.docker.io/library/foo:latest', wantMatch: true },
  { image: 'foo', glob: 'index.docker.io/library/foo:*', wantMatch: true },
  { image: 'foo', glob: 'index.docker.io/library/*', wantMatch: true },
  { image: 'foo', glob: 'index.docker.io/library/*:latest', wantMatch: true },
  { image: 'foo', glob: 'index.docker.io/*/*', wantMatch: true },
  { image: 'foo', glob: 'index.docker.io/**', wantMatch: true },
  { image: 'foo', glob: 'index.docker.**', wantMatch: true },
  { image: 'foo', glob: 'inde**', wantMatch: true },
  { image: 'foo', glob: '**', wantMatch: true },
  { image: 'foo', glob: 'foo', wantMatch: true },
  { image: 'foo', glob: 'foo*', wantMatch: true },
  { image: 'foo', glob: 'foo**', wantMatch: true },

  { image: 'myuser/myapp', glob: 'index.docker.io/myuser/myapp:latest', wantMatch: true },
  { image: 'myuser/myapp', glob: 'index.docker.io/myuser/myapp:*', wantMatch: true },
  { image: 'myuser/myapp', glob: 'index.docker.io/myuser/*', wantMatch: true },
  { image: 'myuser/myapp', glob: 'index.docker.io/myuser/*:latest', wantMatch: true },
  { image: 'myuser/myapp', glob: 'index.docker.io/*/*', wantMatch: true },
  { image: 'myuser/myapp', glob: 'index.docker.io/**', wantMatch: true },
  { image: 'myuser/myapp', glob: 'index.docker.**', wantMatch: true },
  { image: 'myuser/myapp', glob: 'inde**', wantMatch: true },
  { image: 'myuser/myapp', glob: '**', wantMatch: true },
  { image: 'myuser/myapp', glob: 'myuser/myapp', wantMatch: true },
  { image: 'myuser/myapp', glob: 'myuser/myapp*', wantMatch: true },
  { image: 'myuser/myapp', glob: 'myuser/myapp**', wantMatch: true },

  { image: 'ghcr.io/foo/bar', glob: 'ghcr.io/*/*', wantMatch: true },
  { image: 'ghcr.io/foo/bar', glob: 'ghcr.io/**', wantMatch: true },
  { image: 'ghcr.io/foo', glob: 'ghcr.io/*/*', wantMatch: false },
  { image: 'ghcr.io/foo', glob: 'ghcr.io/**', wantMatch: true },
  { image: 'ghcr.io/foo', glob: 'ghc**', wantMatch: true },
  { image: 'ghcr.io/foo', glob: '**', wantMatch: true },
  { image: 'ghcr.io/foo', glob: '*/**', wantMatch: true },
  { image: 'ghcr.io/foo', glob: 'ghcr.io/foo*', wantMatch: true },
  { image: 'ghcr.io/foo', glob: 'ghcr.io/foo**', wantMatch: true },

  { image: 'prefix-ghcr.io/foo', glob: 'ghcr.io/foo', wantMatch: false },
  { image: 'ghcr.io/foo-suffix', glob: 'ghcr.io/foo', wantMatch: false },
  { image: 'ghcrxio/foo', glob: 'ghcr.io/**', wantMatch: false },
  { image: 'invalid&name', glob: '**', wantMatch: false, wantErr: true },
  { image: 'invalid-glob', glob: '.+', wantMatch: false, wantErr: true },
  { image: 'invalid-glob', glob: '[a-z]*', wantMatch: false, wantErr: true },

  { image: 'foo', glob: '*', wantMatch: true },
  { image: 'myuser/myapp', glob: '*/*', wantMatch: true },

  { image: `ghcr.io/foo@${DIGEST}`, glob: `ghcr.io/foo@${DIGEST}`, wantMatch: true },
];

const work = mkdtempSync(join(tmpdir(), 'sigwatch-glob-table-'));
after(() => rmSync(work, { recursive: true, force: true }));

function policyWithGlob(glob: string): string {
  const file = join(work, `policy-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    `apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: p}\nspec:\n  images: [{glob: ${JSON.stringify(glob)}}]\n  authorities: [{static: {action: pass}}]\n`,
  );
  return file;
}

async function matches(image: string, glob: string): Promise<{ code: number; match: boolean }> {
  const r = await sigwatch('policy', 'match', image, '--policies', policyWithGlob(glob), '--format', 'json');
  if (r.code !== 0) return { code: r.code, match: false };
  return { code: 0, match: (JSON.parse(r.stdout) as { policies: string[] }).policies.includes('p') };
}

describe('policy-controller TestGlobMatch through policy match', () => {
  it('has every row of the upstream table', () => assert.equal(TABLE.length, 42));
  for (const c of TABLE) {
    it(`${c.image}|${c.glob}: ${c.wantErr ? 'error' : c.wantMatch ? 'match' : 'no match'}`, async () => {
      const r = await matches(c.image, c.glob);
      assert.equal(r.code, c.wantErr ? 2 : 0);
      assert.equal(r.match, c.wantMatch);
    });
  }
});

describe('Docker Hub short-name globs and digest-pinned images', () => {
  const pinned = [`privatenamespace/app@${DIGEST}`, `docker.io/privatenamespace/app@${DIGEST}`, `index.docker.io/privatenamespace/app@${DIGEST}`];
  it('privatenamespace/* matches the digest-pinned images index.docker.io/privatenamespace/* does', async () => {
    for (const image of [
      ...pinned,
      `ghcr.io/privatenamespace/app@${DIGEST}`,
      `index.docker.io/other/app@${DIGEST}`,
      `index.docker.io/privatenamespace/team/app@${DIGEST}`,
    ]) {
      const long = await matches(image, 'index.docker.io/privatenamespace/*');
      const short = await matches(image, 'privatenamespace/*');
      assert.equal(short.match, long.match, image);
      assert.equal(long.match, pinned.includes(image), image);
    }
  });
  it('a single short name reads as library/: busybox* matches the pinned official image', async () => {
    assert.equal((await matches(`busybox@${DIGEST}`, 'busybox*')).match, true);
    assert.equal((await matches(`index.docker.io/library/busybox@${DIGEST}`, 'busybox*')).match, true);
    assert.equal((await matches(`ghcr.io/library/busybox@${DIGEST}`, 'busybox*')).match, false);
  });
  it('policy validate warns where a glob can never match a pinned image, naming the one that would', async () => {
    const r = await sigwatch('policy', 'validate', policyWithGlob('ghcr.io/acme/app:v1'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /spec\.images\[0\]\.glob: warning: sigwatch: "ghcr\.io\/acme\/app:v1" can never match an image at admission.*"ghcr\.io\/acme\/app@\*" matches the same repositories/,
    );
    assert.equal((await matches(`ghcr.io/acme/app@${DIGEST}`, 'ghcr.io/acme/app@*')).match, true);
    assert.equal((await matches(`ghcr.io/acme/app-other@${DIGEST}`, 'ghcr.io/acme/app@*')).match, false);
    for (const glob of ['ghcr.io/acme/*', 'privatenamespace/*', '**', '*', `ghcr.io/acme/app@${DIGEST}`]) {
      assert.doesNotMatch((await sigwatch('policy', 'validate', policyWithGlob(glob))).stderr, /can never match/, glob);
    }
  });
});
