import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SigwatchError } from '../../src/errors.ts';
import { globMatches, globRegExp } from '../../src/policy/glob.ts';
import { parseReference } from '../../src/registry/reference.ts';

/**
 * The glob matcher against a reference model of policy-controller's
 * `pkg/apis/glob` written from its documented semantics, not from its regexp:
 * `**` (paired left to right) matches any run of characters, `*` any run
 * without `/`, everything else itself, the whole name anchored; the glob's
 * alphabet is `a-zA-Z0-9 - _ : / * . @`; `*` alone and `*\/*` stand for
 * Docker Hub's official and user images.
 */

type Token = { any: true } | { segment: true } | { literal: string };

function tokens(glob: string): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < glob.length; i++) {
    if (glob.startsWith('**', i)) {
      out.push({ any: true });
      i++;
    } else if (glob[i] === '*') out.push({ segment: true });
    else out.push({ literal: glob[i]! });
  }
  return out;
}

/** Whether `glob` covers all of `name`: dynamic programming over (token, position). */
function modelMatch(glob: string, name: string): boolean {
  const g = glob === '*/*' ? 'index.docker.io/*/*' : glob === '*' ? 'index.docker.io/library/*' : glob;
  const ts = tokens(g);
  const memo = new Map<string, boolean>();
  const at = (t: number, i: number): boolean => {
    const k = `${t},${i}`;
    const known = memo.get(k);
    if (known !== undefined) return known;
    let r: boolean;
    if (t === ts.length) r = i === name.length;
    else {
      const tok = ts[t]!;
      if ('literal' in tok) r = name[i] === tok.literal && at(t + 1, i + 1);
      else {
        r = at(t + 1, i);
        for (let j = i; !r && j < name.length; j++) {
          if ('segment' in tok && name[j] === '/') break;
          r = at(t + 1, j + 1);
        }
      }
    }
    memo.set(k, r);
    return r;
  };
  return at(0, 0);
}

const VALID = /^[a-zA-Z0-9\-_:/*.@]+$/;
// A small alphabet, so that globs and names collide often enough to match.
const globChar = fc.constantFrom('a', 'b', '/', '.', ':', '@', '-', '*', '*');
const nameChar = fc.constantFrom('a', 'b', '/', '.', ':', '@', '-');
const glob = fc.string({ unit: globChar, minLength: 1, maxLength: 12 });
const name = fc.string({ unit: nameChar, maxLength: 14 });
const runs = { numRuns: 500 };

describe('glob matcher (property)', () => {
  it('matches exactly where the reference model does', () => {
    fc.assert(
      fc.property(glob, name, (g, n) => {
        assert.equal(globRegExp(g).test(n), modelMatch(g, n), `glob ${JSON.stringify(g)} name ${JSON.stringify(n)}`);
      }),
      runs,
    );
  });

  it('matches names built from the glob by filling each wildcard legally', () => {
    const filler = fc.string({ unit: fc.constantFrom('a', 'b', '.', ':', '-'), maxLength: 4 });
    fc.assert(
      fc.property(
        glob,
        fc.array(filler, { minLength: 24, maxLength: 24 }),
        fc.array(fc.constantFrom('', '/', 'x/y'), { minLength: 24, maxLength: 24 }),
        (g, fills, slashes) => {
          if (g === '*' || g === '*/*') return;
          let k = 0;
          const n = tokens(g)
            .map((t) => ('literal' in t ? t.literal : 'any' in t ? `${fills[k]}${slashes[k++]}` : fills[k++]))
            .join('');
          assert.ok(globRegExp(g).test(n), `glob ${JSON.stringify(g)} should match ${JSON.stringify(n)}`);
        },
      ),
      runs,
    );
  });

  it('accepts exactly the globs of the allowed alphabet, refusing the rest with POLICY_INVALID', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 10 }), (g) => {
        const valid = VALID.test(g === '*/*' || g === '*' ? 'x' : g);
        try {
          globRegExp(g);
          assert.ok(valid, `accepted ${JSON.stringify(g)}`);
        } catch (err) {
          assert.ok(err instanceof SigwatchError && err.code === 'POLICY_INVALID', String(err));
          assert.ok(!valid, `refused ${JSON.stringify(g)}`);
          assert.equal(err.message, `invalid glob ${JSON.stringify(g)}`);
        }
      }),
      runs,
    );
  });

  it('matches an image by its normalised name, or as written when that fails (upstream Match)', () => {
    const repo = fc.stringMatching(/^[a-z0-9]{1,4}(\/[a-z0-9]{1,4}){0,2}$/);
    const image = fc
      .tuple(fc.constantFrom('', 'ghcr.io/', 'localhost:5000/', 'docker.io/'), repo, fc.constantFrom('', ':v1', ':latest'))
      .map(([h, r, t]) => `${h}${r}${t}`);
    const imageGlob = fc
      .tuple(
        fc.constantFrom('', 'ghcr.io/', 'index.docker.io/', '**/', '*/'),
        fc.constantFrom('*', '**', 'a*', 'library/*', '*/*'),
        fc.constantFrom('', ':*', ':**', ':latest'),
      )
      .map(([h, r, t]) => `${h}${r}${t}`);
    fc.assert(
      fc.property(imageGlob, image, (g, img) => {
        const normalised = parseReference(img).name;
        assert.equal(globMatches(g, img), modelMatch(g, normalised) || (normalised !== img && modelMatch(g, img)), `${g} ~ ${img} (${normalised})`);
      }),
      runs,
    );
  });
});
