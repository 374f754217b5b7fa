import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SigwatchError } from '../../src/errors.ts';
import { parseReference } from '../../src/registry/reference.ts';

/**
 * The reference parser against go-containerregistry's `name.ParseReference`
 * rules (weak validation): references generated from its grammar parse and
 * re-serialise to themselves (with Docker Hub's implied registry, `library/`
 * and `:latest`), and anything else is REFERENCE_INVALID, never another error.
 */

const runs = { numRuns: 400 };
const lower = 'abcdefghijklmnopqrstuvwxyz0123456789';
const label = fc.string({ unit: fc.constantFrom(...lower), minLength: 1, maxLength: 8 });
const hostname = fc.array(label, { minLength: 2, maxLength: 3 }).map((ls) => ls.join('.'));
const port = fc.integer({ min: 1, max: 65535 });
const registry = fc.oneof(
  hostname,
  fc.tuple(hostname, port).map(([h, p]) => `${h}:${p}`),
  port.map((p) => `localhost:${p}`),
);
// go-containerregistry's repository alphabet; components kept well-formed so both parsers agree on them.
const component = fc
  .tuple(
    label,
    fc.option(
      fc.tuple(fc.constantFrom('.', '_', '-', '__'), label).map(([s, l]) => `${s}${l}`),
      { nil: '' },
    ),
  )
  .map(([a, b]) => `${a}${b}`);
const repository = fc.array(component, { minLength: 1, maxLength: 3 }).map((cs) => cs.join('/'));
const tag = fc
  .tuple(fc.constantFrom(...`${lower}_ABCXYZ`), fc.string({ unit: fc.constantFrom(...`${lower}_.-ABCXYZ`), maxLength: 20 }))
  .map(([a, b]) => `${a}${b}`);
const digest = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }).map((h) => `sha256:${h}`);

describe('reference parser (property)', () => {
  it('parses host/repo:tag and host/repo@digest to themselves', () => {
    fc.assert(
      fc.property(
        registry,
        repository,
        fc.oneof(
          tag.map((t) => `:${t}`),
          digest.map((d) => `@${d}`),
        ),
        (host, repo, suffix) => {
          const input = `${host}/${repo}${suffix}`;
          const ref = parseReference(input);
          assert.equal(ref.name, input);
          assert.equal(ref.registry, host);
          assert.equal(ref.repository, repo);
          assert.equal(parseReference(ref.name).name, ref.name, 'Name() re-parses to itself');
        },
      ),
      runs,
    );
  });

  it('fills in Docker Hub, library/ and :latest as go-containerregistry does, idempotently', () => {
    fc.assert(
      fc.property(
        fc.option(fc.constantFrom('docker.io/', 'index.docker.io/'), { nil: '' }),
        repository,
        fc.option(tag, { nil: undefined }),
        (prefix, repo, t) => {
          const ref = parseReference(`${prefix}${repo}${t === undefined ? '' : `:${t}`}`);
          const path = repo.includes('/') ? repo : `library/${repo}`;
          // A first component with a dot is a registry, not a Docker Hub namespace.
          if (prefix === '' && repo.includes('/') && repo.split('/')[0]!.includes('.')) return;
          assert.equal(ref.name, `index.docker.io/${path}:${t ?? 'latest'}`);
          assert.equal(parseReference(ref.name).name, ref.name);
        },
      ),
      runs,
    );
  });

  it('drops a tag written before a digest, keeping the digest', () => {
    fc.assert(
      fc.property(registry, repository, tag, digest, (host, repo, t, d) => {
        assert.equal(parseReference(`${host}/${repo}:${t}@${d}`).name, `${host}/${repo}@${d}`);
      }),
      runs,
    );
  });

  it('refuses references with a character outside the grammar, with REFERENCE_INVALID', () => {
    const bad = fc.constantFrom(' ', 'A', 'Ä', '\n', '\u0000', '\u200b', '#', '?', '%', '\\', '"', '+', '$', '!', '\u0430');
    fc.assert(
      fc.property(registry, repository, tag, bad, fc.nat(), (host, repo, t, c, at) => {
        // The bad character goes into the repository path (uppercase is legal only in tags).
        const pos = at % (repo.length + 1);
        const input = `${host}/${repo.slice(0, pos)}${c}${repo.slice(pos)}:${t}`;
        assert.throws(
          () => parseReference(input),
          (err) => err instanceof SigwatchError && err.code === 'REFERENCE_INVALID' && err.message.startsWith(`could not parse reference: ${input}`),
        );
      }),
      runs,
    );
  });

  it('refuses malformed digests with REFERENCE_INVALID', () => {
    const badDigest = fc.oneof(
      fc
        .string({ unit: fc.constantFrom(...'0123456789abcdef'), maxLength: 70 })
        .filter((h) => h.length !== 64)
        .map((h) => `sha256:${h}`),
      fc
        .string({ unit: fc.constantFrom(...'0123456789ABCDEFg'), minLength: 64, maxLength: 64 })
        .filter((h) => /[A-Zg]/.test(h))
        .map((h) => `sha256:${h}`),
      digest.map((d) => d.replace('sha256', 'sha512')),
    );
    fc.assert(
      fc.property(registry, repository, badDigest, (host, repo, d) => {
        assert.throws(
          () => parseReference(`${host}/${repo}@${d}`),
          (err) => err instanceof SigwatchError && err.code === 'REFERENCE_INVALID',
        );
      }),
      runs,
    );
  });

  it('never throws anything but REFERENCE_INVALID, whatever the string', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: fc.constantFrom('a', '/', ':', '@', '.', 'sha256:', '5000', 'A', '-'), maxLength: 12 })),
        (s) => {
          try {
            const ref = parseReference(s);
            assert.equal(parseReference(ref.name).name, ref.name, `${JSON.stringify(s)} → ${ref.name}`);
          } catch (err) {
            assert.ok(err instanceof SigwatchError && err.code === 'REFERENCE_INVALID', `${JSON.stringify(s)}: ${String(err)}`);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
