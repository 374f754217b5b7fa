import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_DOCUMENT_BYTES, MAX_FILE_BYTES, parsePolicyDocuments } from '../../src/policy/parse.ts';
import { formatProblem } from '../../src/policy/problems.ts';

const KEY = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/RSYDSk6vRun68DonExRmkAFICMu
t5js5ED0Zkmx3JLovh8Pvx/vzvUjEYZ3rrQuoHQWjJM+slXYqzY4DkN2rg==
-----END PUBLIC KEY-----`;

const staticPolicy = (name: string, extra = '') => `apiVersion: policy.sigstore.dev/v1alpha1
kind: ClusterImagePolicy
metadata:
  name: ${name}
spec:
  images:
  - glob: "**"
  authorities:
  - static:
      action: pass
${extra}`;

const parse = (text: string) => parsePolicyDocuments(text, { file: 'policies.yaml', version: 'v7' });
const lines = (text: string) => parse(text).problems.map(formatProblem);

describe('documents', () => {
  it('reads every --- document, skipping empty ones, and records where each came from', () => {
    const text = `# only a comment\n---\n${staticPolicy('first')}---\n# another\n---\n${staticPolicy('second').replace('v1alpha1', 'v1beta1')}---\n`;
    const { policies, problems } = parse(text);
    assert.deepEqual(problems, []);
    assert.deepEqual(
      policies.map((p) => [p.metadata.name, p.apiVersion, p.origin]),
      [
        ['first', 'policy.sigstore.dev/v1alpha1', { file: 'policies.yaml', index: 0, version: 'v7' }],
        ['second', 'policy.sigstore.dev/v1beta1', { file: 'policies.yaml', index: 2, version: 'v7' }],
      ],
    );
  });

  it('reads JSON', () => {
    const json = JSON.stringify({
      apiVersion: 'policy.sigstore.dev/v1beta1',
      kind: 'ClusterImagePolicy',
      metadata: { name: 'from-json' },
      spec: { images: [{ glob: 'ghcr.io/**' }], authorities: [{ key: { data: KEY } }] },
    });
    const { policies, problems } = parse(json);
    assert.deepEqual(problems, []);
    assert.equal(policies[0]?.spec.authorities[0]?.key?.data, KEY);
  });

  it('reads TrustRoots next to policies', () => {
    const root = Buffer.from(JSON.stringify({ signed: {}, signatures: [{}] })).toString('base64');
    const text = `${staticPolicy('p')}---
apiVersion: policy.sigstore.dev/v1alpha1
kind: TrustRoot
metadata: {name: mirror}
spec:
  remote: {mirror: "https://tuf.example.com", root: ${root}}
`;
    const { policies, trustRoots, problems } = parse(text);
    assert.deepEqual(problems, []);
    assert.equal(policies.length, 1);
    assert.deepEqual(trustRoots[0]?.spec.remote, { mirror: 'https://tuf.example.com', root, targets: 'targets' });
  });

  it('accepts objects as kubectl prints them (status and server fields)', () => {
    const exported = staticPolicy('exported').replace(
      '  name: exported\n',
      '  name: exported\n  uid: 0b7c\n  resourceVersion: "42"\n  generation: 3\n  creationTimestamp: "2024-05-01T10:00:00Z"\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: "{}"\n',
    );
    const { policies, problems } = parse(`${exported}status:\n  conditions:\n  - type: Ready\n    status: "True"\n`);
    assert.deepEqual(problems, []);
    assert.deepEqual(policies[0]?.metadata, { name: 'exported', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } });
  });

  it('names a document by kind and name, or by its number', () => {
    assert.deepEqual(lines(`${staticPolicy('ok')}---\nkind: ClusterImagePolicy\n`), ['policies.yaml: document 2: apiVersion: missing field(s)']);
    assert.deepEqual(lines(`apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n`), [
      'policies.yaml: ConfigMap/cm: kind: unsupported kind "ConfigMap" in version "v1": expected ClusterImagePolicy or TrustRoot in policy.sigstore.dev/v1alpha1 or v1beta1',
    ]);
    assert.deepEqual(lines(staticPolicy('p').replace('v1alpha1', 'v1')), [
      'policies.yaml: ClusterImagePolicy/p: apiVersion: no matches for kind "ClusterImagePolicy" in version "policy.sigstore.dev/v1" (expected v1alpha1 or v1beta1)',
    ]);
    assert.deepEqual(lines('- just\n- a list\n'), ['policies.yaml: document 1: a document must be a Kubernetes object (a mapping), got array']);
    assert.deepEqual(lines(staticPolicy('').replace('  name: \n', '')), [
      'policies.yaml: document 1: metadata.name: Required value: name is required (generateName cannot be used here: policies are referred to by name)',
    ]);
  });
});

describe('YAML as Kubernetes reads it', () => {
  it('reports syntax errors and duplicate keys with their line', () => {
    const [syntax] = lines(`${staticPolicy('ok')}---\nspec: [unclosed\n`);
    assert.match(syntax!, /^policies\.yaml: document 2: YAML: Flow sequence .* at line 13, column 1$/);
    const [dup] = lines('apiVersion: a\napiVersion: b\n');
    assert.equal(dup, 'policies.yaml: document 1: YAML: Map keys must be unique at line 2, column 1');
  });

  it('reads YAML 1.1 booleans as go-yaml does, but keeps dates and 1:30 as strings', () => {
    const text = staticPolicy('p').replace(
      '  - static:\n      action: pass\n',
      `  - keyless:\n      insecureIgnoreSCT: yes\n      identities: [{issuer: "https://accounts.google.com", subject: me}]\n    source:\n    - tagPrefix: 2024-01-01\n`,
    );
    const { policies, problems } = parse(text);
    assert.deepEqual(problems, []);
    assert.equal(policies[0]?.spec.authorities[0]?.keyless?.insecureIgnoreSCT, true);
    assert.equal(policies[0]?.spec.authorities[0]?.source?.[0]?.tagPrefix, '2024-01-01');
    // A string (no type error); only the warning that no pinned image is named 1:30.
    assert.deepEqual(
      lines(staticPolicy('p').replace('glob: "**"', 'glob: 1:30')).filter((l) => !l.includes(': warning: sigwatch: "1:30" can never match')),
      [],
    );
    assert.deepEqual(lines(staticPolicy('p').replace('glob: "**"', 'glob: on')), [
      'policies.yaml: ClusterImagePolicy/p: spec.images[0].glob: must be of type string: "boolean"',
    ]);
  });

  it('refuses wrong types and unknown fields, as strict decoding does', () => {
    assert.deepEqual(lines(staticPolicy('p').replace('  - glob: "**"\n', '    ghcr.io/**\n')), [
      'policies.yaml: ClusterImagePolicy/p: spec.images: must be of type array: "string"',
    ]);
    assert.deepEqual(lines(staticPolicy('p', '  mode: warn\n  Mode: enforce\n')), ['policies.yaml: ClusterImagePolicy/p: spec.Mode: unknown field "Mode"']);
    assert.deepEqual(lines(staticPolicy('p', '  images2: []\n').replace('  name: p\n', '  name: p\n  labels: {team: 7}\n')), [
      'policies.yaml: ClusterImagePolicy/p: metadata.labels.team: must be of type string: "integer"',
      'policies.yaml: ClusterImagePolicy/p: spec.images2: unknown field "images2"',
    ]);
    assert.deepEqual(lines(staticPolicy('p').replace('  - glob: "**"\n', '  - null\n')), [
      'policies.yaml: ClusterImagePolicy/p: spec.images[0]: must be of type object: "null"',
    ]);
  });

  it('treats null as absent', () => {
    const { policies, problems } = parse(staticPolicy('p', '  mode:\n  policy: ~\n'));
    assert.deepEqual(problems, []);
    assert.equal(policies[0]?.spec.mode, 'enforce');
    assert.equal(policies[0]?.spec.policy, undefined);
  });

  it('stops alias bombs', () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (const n of ['b', 'c', 'd', 'e', 'f', 'g'])
      levels.push(
        `${n}: &${n} [${Array(9)
          .fill(`*${levels.length === 1 ? 'a' : String.fromCharCode(n.charCodeAt(0) - 1)}`)
          .join(',')}]`,
      );
    const [problem] = lines(levels.join('\n'));
    assert.match(problem!, /^policies\.yaml: document 1: YAML: Excessive alias count .* \(more than 100 aliases\)$/);
  });

  it('refuses files and documents larger than Kubernetes would take', () => {
    assert.deepEqual(lines(`# ${'x'.repeat(MAX_FILE_BYTES)}\n`), [
      `policies.yaml: document 1: file is larger than ${MAX_FILE_BYTES} bytes, more than Kubernetes accepts in one request`,
    ]);
    const big = staticPolicy('big').replace('  name: big\n', `  name: big\n  annotations: {note: "${'x'.repeat(MAX_DOCUMENT_BYTES)}"}\n`);
    assert.deepEqual(lines(`${staticPolicy('small')}---\n${big}`), [
      `policies.yaml: document 2: document is larger than ${MAX_DOCUMENT_BYTES} bytes, more than Kubernetes stores for one object`,
    ]);
  });
});

describe('defaults (upstream SetDefaults)', () => {
  it('names authorities, sets mode and the public Fulcio for keyless authorities without a CA', () => {
    const text = staticPolicy('p').replace(
      '  - static:\n      action: pass\n',
      `  - keyless:\n      identities: [{issuer: "https://accounts.google.com", subject: me}]
  - name: own-ca
    keyless:
      ca-cert: {secretRef: {name: ca}}
      identities: [{issuer: "https://accounts.google.com", subject: me}]
  - keyless:
      url: ""
      identities: [{issuer: "https://accounts.google.com", subject: me}]
  - key: {kms: "hashivault://k", hashAlgorithm: " SHA384 "}
`,
    );
    const { policies, problems } = parse(text);
    assert.deepEqual(problems, []);
    const spec = policies[0]!.spec;
    assert.equal(spec.mode, 'enforce');
    assert.deepEqual(
      spec.authorities.map((a) => [a.name, a.keyless?.url]),
      [
        ['authority-0', 'https://fulcio.sigstore.dev'],
        ['own-ca', undefined],
        ['authority-2', ''], // an explicit empty url counts as given, as in Go
        ['authority-3', undefined],
      ],
    );
    assert.equal(spec.authorities[3]?.key?.hashAlgorithm, 'sha384');
  });
});

describe('formatProblem', () => {
  it('prints one line per problem, warnings marked, line breaks escaped', () => {
    assert.equal(
      formatProblem({
        file: 'a.yaml',
        document: 'ClusterImagePolicy/p',
        path: 'spec.authorities[0].key.data',
        message: 'invalid value: ---\nkey\n',
        severity: 'error',
      }),
      'a.yaml: ClusterImagePolicy/p: spec.authorities[0].key.data: invalid value: ---\\nkey\\n',
    );
    assert.equal(formatProblem({ file: 'a.yaml', document: 'document 3', path: '', message: 'm', severity: 'warning' }), 'a.yaml: document 3: warning: m');
  });
});
