import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { parsePolicyDocuments } from '../../src/policy/parse.ts';
import { generateKeyPair } from '../support/index.ts';

/**
 * The policy parser: whatever the text, it returns problems and never
 * throws; an object with any error is never loaded; and valid policies
 * generated from the CRD's shape load, with upstream's defaults, and survive
 * a round trip through YAML unchanged.
 */

const runs = { numRuns: 300 };
const key = generateKeyPair().publicKeyPem;
const parse = (text: string) => parsePolicyDocuments(text, { file: 'p.yaml' });
// Kubernetes reads YAML 1.1 (`y` and `on` are booleans): write it that way, as kubectl users must.
const toYaml = (value: unknown) => stringify(value, { version: '1.1' });

function loadsOnlyWithoutErrors(text: string): void {
  const out = parse(text);
  const errors = out.problems.filter((p) => p.severity === 'error');
  for (const p of out.problems) {
    assert.equal(typeof p.message, 'string');
    assert.ok(p.message.length > 0);
  }
  // Every loaded object came from a document without errors.
  const failed = new Set(errors.map((p) => p.document));
  for (const object of [...out.policies, ...out.trustRoots]) {
    assert.ok(!failed.has(`${object.kind}/${object.metadata.name}`), `loaded ${object.kind}/${object.metadata.name} despite errors`);
  }
}

const dnsName = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/);
const glob = fc
  .array(fc.constantFrom('ghcr.io', 'registry.example.com:5000', 'team', 'app-1', '*', '**', 'a.b'), { minLength: 1, maxLength: 4 })
  .map((parts) => parts.join('/'));
const authority = fc.oneof(
  fc.record({
    static: fc.oneof(fc.constant({ action: 'pass' }), fc.record({ action: fc.constant('fail'), message: fc.string({ minLength: 1, maxLength: 20 }) })),
  }),
  fc.record({ key: fc.record({ data: fc.constant(key), hashAlgorithm: fc.constantFrom('sha256', 'sha384', 'sha512') }) }),
  fc.record({
    keyless: fc.record({
      url: fc.constant('https://fulcio.sigstore.dev'),
      identities: fc.array(
        fc.record({ issuer: fc.constantFrom('https://token.actions.githubusercontent.com', 'https://accounts.google.com'), subject: fc.emailAddress() }),
        { minLength: 1, maxLength: 2 },
      ),
    }),
  }),
);
const validPolicy = fc.record({
  apiVersion: fc.constantFrom('policy.sigstore.dev/v1alpha1', 'policy.sigstore.dev/v1beta1'),
  kind: fc.constant('ClusterImagePolicy'),
  metadata: fc.record({ name: dnsName }),
  spec: fc.record({
    mode: fc.constantFrom('enforce', 'warn'),
    images: fc.array(fc.record({ glob }), { minLength: 1, maxLength: 3 }),
    authorities: fc.array(authority, { minLength: 1, maxLength: 3 }).map((as) => as.map((a, i) => ({ name: `authority-${i}`, ...a }))),
  }),
});

describe('policy parser (property)', () => {
  it('never throws on arbitrary text, YAML-looking or not', () => {
    const yamlish = fc
      .array(
        fc.constantFrom(
          'a: ',
          '- ',
          '&x ',
          '*x',
          '[',
          ']',
          '{',
          '}',
          '\n  ',
          '\n',
          '---\n',
          '"',
          "'",
          '!!str ',
          '<<: ',
          '? ',
          '|\n',
          '#',
          'spec:',
          'kind: ClusterImagePolicy\n',
        ),
        { maxLength: 30 },
      )
      .map((a) => a.join(''));
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'grapheme', maxLength: 50 }), yamlish), loadsOnlyWithoutErrors), {
      numRuns: 500,
    });
  });

  it('never throws on a policy whose spec is any JSON value, and loads none with errors', () => {
    fc.assert(
      fc.property(dnsName, fc.jsonValue(), (name, spec) => {
        loadsOnlyWithoutErrors(JSON.stringify({ apiVersion: 'policy.sigstore.dev/v1beta1', kind: 'ClusterImagePolicy', metadata: { name }, spec }));
      }),
      runs,
    );
  });

  it('never throws on a TrustRoot of any shape, or with any strings where its keys and chains go', () => {
    const b64 = fc.oneof(
      fc.base64String({ maxLength: 200 }),
      fc.string({ maxLength: 50 }),
      fc.constant('LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkFBQUEKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo='),
    );
    const authority = fc.record(
      { subject: fc.record({ organization: fc.string(), commonName: fc.string() }), uri: fc.oneof(fc.webUrl(), fc.string()), certChain: b64 },
      { requiredKeys: [] },
    );
    const log = fc.record(
      { baseURL: fc.oneof(fc.webUrl(), fc.string()), hashAlgorithm: fc.constantFrom('sha-256', 'sha256', 'md5', ''), publicKey: b64 },
      { requiredKeys: [] },
    );
    const keys = fc.record(
      {
        certificateAuthorities: fc.array(authority, { maxLength: 2 }),
        tLogs: fc.array(log, { maxLength: 2 }),
        ctLogs: fc.array(log, { maxLength: 2 }),
        timestampAuthorities: fc.array(authority, { maxLength: 2 }),
      },
      { requiredKeys: [] },
    );
    const spec = fc.oneof(
      fc.jsonValue(),
      fc.record({ sigstoreKeys: keys }),
      fc.record(
        {
          remote: fc.record({ mirror: fc.string(), root: b64 }, { requiredKeys: [] }),
          repository: fc.record({ root: b64, mirrorFS: b64 }, { requiredKeys: [] }),
        },
        { requiredKeys: [] },
      ),
    );
    fc.assert(
      fc.property(dnsName, spec, (name, s) => {
        loadsOnlyWithoutErrors(JSON.stringify({ apiVersion: 'policy.sigstore.dev/v1alpha1', kind: 'TrustRoot', metadata: { name }, spec: s }));
      }),
      runs,
    );
  });

  it('never throws when one field of a valid policy is replaced by any value', () => {
    fc.assert(
      fc.property(validPolicy, fc.nat(), fc.jsonValue(), (policy, pick, value) => {
        const paths: (string | number)[][] = [];
        const walk = (v: unknown, path: (string | number)[]) => {
          paths.push(path);
          if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
          else if (typeof v === 'object' && v !== null) Object.entries(v).forEach(([k, x]) => walk(x, [...path, k]));
        };
        walk(policy, []);
        const path = paths[pick % paths.length]!;
        const copy = structuredClone(policy) as unknown as Record<string | number, unknown>;
        if (path.length === 0) return loadsOnlyWithoutErrors(JSON.stringify(value));
        let target = copy;
        for (const k of path.slice(0, -1)) target = target[k] as Record<string | number, unknown>;
        target[path.at(-1)!] = value;
        loadsOnlyWithoutErrors(toYaml(copy));
      }),
      runs,
    );
  });

  it('loads generated valid policies as written (with defaults), and again after a YAML round trip', () => {
    fc.assert(
      fc.property(validPolicy, (policy) => {
        const first = parse(toYaml(policy));
        assert.deepEqual(
          first.problems.filter((p) => p.severity === 'error'),
          [],
        );
        assert.equal(first.policies.length, 1);
        const loaded = first.policies[0]!;
        assert.equal(loaded.metadata.name, policy.metadata.name);
        assert.equal(loaded.spec.mode, policy.spec.mode);
        // fast-check may build null-prototype objects: compare as JSON.
        assert.deepEqual(JSON.parse(JSON.stringify(loaded.spec.images)), JSON.parse(JSON.stringify(policy.spec.images)));
        assert.deepEqual(
          loaded.spec.authorities.map((a) => a.name),
          policy.spec.authorities.map((a) => a.name),
        );
        const again = parse(toYaml({ apiVersion: loaded.apiVersion, kind: loaded.kind, metadata: loaded.metadata, spec: loaded.spec }));
        assert.equal(again.policies.length, 1);
        assert.deepEqual(again.policies[0]!.spec, loaded.spec);
      }),
      { numRuns: 200 },
    );
  });
});
