import { parseAllDocuments, type Tags } from 'yaml';
import type { Draft } from './draft.ts';
import { generic, toProblems, type FieldIssue, type PolicyProblem } from './problems.ts';
import type { ApiVersion, ClusterImagePolicy, ClusterImagePolicySpec, DocumentOrigin, ObjectMeta, TrustRoot, TrustRootSpec } from './types.ts';
import { validateClusterImagePolicy } from './validate-policy.ts';
import { validateTrustRoot } from './validate-trustroot.ts';
import { MAX_DOCUMENT_BYTES, MAX_FILE_BYTES } from './limits.ts';

/**
 * YAML or JSON text → ClusterImagePolicy / TrustRoot documents, the way they
 * reach policy-controller: read as Kubernetes reads YAML (YAML 1.1 scalars,
 * so `on` is a boolean), decoded strictly (unknown fields and wrong types are
 * errors, as with `kubectl apply`'s default server-side validation), given
 * upstream's defaults (its mutating webhook runs before validation), then
 * validated by upstream's rules.
 */

export { MAX_DOCUMENT_BYTES, MAX_FILE_BYTES } from './limits.ts';
// Hostile nesting (`[[[[…` thousands deep) exhausts the parser's stack; the
// yaml library reports that as an error, which we word for people.
const STACK_EXHAUSTED = 'Maximum call stack size exceeded';
const NESTED_TOO_DEEPLY = 'nested too deeply to be a Kubernetes object';
/** Aliases resolved per document; more only serves a "billion laughs" blow-up. */
const MAX_ALIASES = 100;

const API_GROUP = 'policy.sigstore.dev';
const API_VERSIONS: readonly ApiVersion[] = ['policy.sigstore.dev/v1alpha1', 'policy.sigstore.dev/v1beta1'];
const KINDS = ['ClusterImagePolicy', 'TrustRoot'] as const;
type Kind = (typeof KINDS)[number];
/** What upstream's defaulting webhook puts in a keyless authority with neither url nor ca-cert. */
const PUBLIC_FULCIO = 'https://fulcio.sigstore.dev';

export interface ParsedDocuments {
  /** Documents without errors (warnings allowed), defaults applied. */
  policies: ClusterImagePolicy[];
  trustRoots: TrustRoot[];
  /** Everything found, including why documents were left out. */
  problems: PolicyProblem[];
}

export function parsePolicyDocuments(text: string, origin: { file: string; version?: string }): ParsedDocuments {
  const out: ParsedDocuments = { policies: [], trustRoots: [], problems: [] };
  const fileProblem = (message: string) => out.problems.push({ file: origin.file, document: 'document 1', path: '', message, severity: 'error' });
  if (Buffer.byteLength(text, 'utf8') > MAX_FILE_BYTES) {
    fileProblem(`file is larger than ${MAX_FILE_BYTES} bytes, more than Kubernetes accepts in one request`);
    return out;
  }
  let docs: ReturnType<typeof parseYaml>;
  try {
    docs = parseYaml(text);
  } catch (err) {
    // The parser recurses per nesting level; some shapes (`- - - …` on one line) overflow outside its own error handling.
    fileProblem(`YAML: ${err instanceof RangeError ? NESTED_TOO_DEEPLY : firstLine(String((err as Error).message))}`);
    return out;
  }
  docs.forEach((doc, index) => {
    const label = `document ${index + 1}`;
    const report = (message: string, severity: 'error' | 'warning' = 'error') =>
      out.problems.push({ file: origin.file, document: label, path: '', message, severity });
    if (doc.errors.length > 0) {
      for (const e of doc.errors) report(`YAML: ${firstLine(e.message).replace(STACK_EXHAUSTED, NESTED_TOO_DEEPLY)}`);
      return;
    }
    for (const w of doc.warnings) report(`YAML: ${firstLine(w.message)}`, 'warning');
    const [start, , end] = doc.range;
    if (end - start > MAX_DOCUMENT_BYTES) {
      report(`document is larger than ${MAX_DOCUMENT_BYTES} bytes, more than Kubernetes stores for one object`);
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIASES });
    } catch (err) {
      if (err instanceof RangeError) report(`YAML: ${NESTED_TOO_DEEPLY}`);
      else report(`YAML: ${firstLine((err as Error).message)} (more than ${MAX_ALIASES} aliases)`);
      return;
    }
    // Empty documents (a trailing `---`, comments only) are not objects to apply.
    if (value === null || value === undefined) return;
    const parsed = parseObject(value, { file: origin.file, index, version: origin.version });
    out.problems.push(...toProblems(parsed.issues, origin.file, parsed.label ?? label));
    if (parsed.issues.some((i) => i.severity === 'error') || !parsed.object) return;
    if (parsed.object.kind === 'ClusterImagePolicy') out.policies.push(parsed.object);
    else out.trustRoots.push(parsed.object);
  });
  return out;
}

function parseYaml(text: string) {
  return parseAllDocuments(text, { version: '1.1', customTags: kubernetesTags, prettyErrors: true, uniqueKeys: true });
}

/**
 * Kubernetes reads YAML with go-yaml v2: YAML 1.1 booleans (`yes`, `on`),
 * octal `0755` and `1_000` as numbers, but timestamps and `1:30` stay strings.
 */
function kubernetesTags(tags: Tags): Tags {
  return tags.filter((t) =>
    typeof t === 'string'
      ? !['timestamp', 'intTime', 'floatTime'].includes(t)
      : t.tag !== 'tag:yaml.org,2002:timestamp' && !('format' in t && t.format === 'TIME'),
  );
}

/** The yaml library's message without its source excerpt: "… at line 3, column 5". */
function firstLine(message: string): string {
  return message.split('\n')[0]!.trim().replace(/:$/, '');
}

interface ParsedObject {
  issues: FieldIssue[];
  /** `KIND/NAME` once both are known. */
  label?: string;
  object?: ClusterImagePolicy | TrustRoot;
}

function parseObject(value: unknown, origin: DocumentOrigin): ParsedObject {
  if (!isPlainObject(value)) {
    return { issues: [generic(`a document must be a Kubernetes object (a mapping), got ${typeName(value)}`, '')] };
  }
  const { apiVersion, kind, metadata } = value;
  const name = isPlainObject(metadata) && typeof metadata.name === 'string' ? metadata.name : undefined;
  const label = typeof kind === 'string' && kind !== '' && name ? `${kind}/${name}` : undefined;
  const typeIssue = typeProblem(apiVersion, kind);
  if (typeIssue) return { issues: [typeIssue], label };

  const knownKind = kind as Kind;
  const issues: FieldIssue[] = [];
  const decoded = decode(value, knownKind === 'ClusterImagePolicy' ? CLUSTER_IMAGE_POLICY : TRUST_ROOT, '', issues) as Record<string, unknown>;
  const meta = (decoded.metadata ?? {}) as Draft<ObjectMeta>;
  issues.push(...metadataIssues(meta));
  // Kubernetes refuses such an object before policy-controller's webhooks see it.
  if (issues.length > 0) return { issues, label };
  const common = { apiVersion: apiVersion as ApiVersion, metadata: meta as ObjectMeta, origin };
  if (knownKind === 'ClusterImagePolicy') {
    const spec = defaultPolicySpec((decoded.spec ?? {}) as Draft<ClusterImagePolicySpec>);
    issues.push(...validateClusterImagePolicy(spec));
    normalisePolicySpec(spec);
    return { issues, label, object: { ...common, kind: knownKind, spec: spec as ClusterImagePolicySpec } };
  }
  const spec = defaultTrustRootSpec((decoded.spec ?? {}) as Draft<TrustRootSpec>);
  issues.push(...validateTrustRoot(spec));
  return { issues, label, object: { ...common, kind: knownKind, spec: spec as TrustRootSpec } };
}

/** Why apiVersion/kind is not one we read, in kubectl's words where it has some. */
function typeProblem(apiVersion: unknown, kind: unknown): FieldIssue | undefined {
  if (typeof apiVersion !== 'string' || apiVersion === '') return generic('missing field(s)', 'apiVersion');
  if (typeof kind !== 'string' || kind === '') return generic('missing field(s)', 'kind');
  const ours = (KINDS as readonly string[]).includes(kind);
  if (ours && apiVersion.startsWith(`${API_GROUP}/`) && !(API_VERSIONS as readonly string[]).includes(apiVersion)) {
    return generic(`no matches for kind "${kind}" in version "${apiVersion}" (expected v1alpha1 or v1beta1)`, 'apiVersion');
  }
  if (!ours || !(API_VERSIONS as readonly string[]).includes(apiVersion)) {
    return generic(
      `unsupported kind "${kind}" in version "${apiVersion}": expected ClusterImagePolicy or TrustRoot in ${API_GROUP}/v1alpha1 or v1beta1`,
      'kind',
    );
  }
  return undefined;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** What the API server checks of a cluster-scoped object's metadata before any webhook sees it. */
function metadataIssues(meta: Draft<ObjectMeta>): FieldIssue[] {
  if (!meta.name) return [generic('Required value: name is required (generateName cannot be used here: policies are referred to by name)', 'metadata.name')];
  if (meta.name.length > 253 || !DNS_SUBDOMAIN.test(meta.name)) {
    return [
      generic(
        `Invalid value: "${meta.name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
        'metadata.name',
      ),
    ];
  }
  return [];
}

/** ClusterImagePolicySpec.SetDefaults. */
function defaultPolicySpec(spec: Draft<ClusterImagePolicySpec>): Draft<ClusterImagePolicySpec> {
  spec.mode ??= 'enforce';
  (spec.authorities ?? []).forEach((a, i) => {
    a.name ??= `authority-${i}`;
    if (!a.key && !a.static && a.keyless && a.keyless['ca-cert'] === undefined && a.keyless.url === undefined) a.keyless.url = PUBLIC_FULCIO;
  });
  return spec;
}

/** Spellings upstream compares loosely, made canonical so that evaluation needs no second copy of the rule. */
function normalisePolicySpec(spec: Draft<ClusterImagePolicySpec>): void {
  for (const a of spec.authorities ?? []) {
    for (const key of [a.key, a.keyless?.['ca-cert']]) {
      if (key?.hashAlgorithm) key.hashAlgorithm = key.hashAlgorithm.trim().toLowerCase();
    }
  }
}

/** TrustRootSpec.SetDefaults. */
function defaultTrustRootSpec(spec: Draft<TrustRootSpec>): Draft<TrustRootSpec> {
  if (spec.repository) spec.repository.targets ??= 'targets';
  if (spec.remote) spec.remote.targets ??= 'targets';
  return spec;
}

// ---------------------------------------------------------------------------
// Strict decoding against the CRD schema (config/300-*.yaml upstream).

type Schema =
  /** `keepEmpty` for Go pointers and []byte, where "" differs from absent; other strings treat "" as absent. */
  | { type: 'string'; keepEmpty?: boolean }
  | { type: 'boolean' }
  | { type: 'stringMap' }
  /** Accepted and dropped: fields the API server fills in (status, uid…). */
  | { type: 'ignored' }
  | { type: 'array'; items: Schema }
  | { type: 'object'; fields: Record<string, Schema> };

const str: Schema = { type: 'string' };
const presentStr: Schema = { type: 'string', keepEmpty: true };
const bool: Schema = { type: 'boolean' };
const ignored: Schema = { type: 'ignored' };
const obj = (fields: Record<string, Schema>): Schema => ({ type: 'object', fields });
const arr = (items: Schema): Schema => ({ type: 'array', items });

const OBJECT_META = obj({
  name: str,
  generateName: str,
  namespace: str,
  labels: { type: 'stringMap' },
  annotations: { type: 'stringMap' },
  uid: ignored,
  resourceVersion: ignored,
  generation: ignored,
  creationTimestamp: ignored,
  deletionTimestamp: ignored,
  deletionGracePeriodSeconds: ignored,
  ownerReferences: ignored,
  finalizers: ignored,
  managedFields: ignored,
  selfLink: ignored,
});

const KEY_REF = obj({ secretRef: obj({ name: str, namespace: str }), data: str, kms: str, hashAlgorithm: str });

const POLICY = obj({
  type: str,
  data: str,
  remote: obj({ url: str, sha256sum: str }),
  configMapRef: obj({ name: str, namespace: str, key: str }),
  fetchConfigFile: bool,
  includeSpec: bool,
  includeObjectMeta: bool,
  includeTypeMeta: bool,
});

const AUTHORITY = obj({
  name: str,
  key: KEY_REF,
  keyless: obj({
    url: presentStr,
    identities: arr(obj({ issuer: str, subject: str, issuerRegExp: str, subjectRegExp: str })),
    'ca-cert': KEY_REF,
    trustRootRef: str,
    insecureIgnoreSCT: bool,
  }),
  static: obj({ action: str, message: str }),
  source: arr(obj({ oci: str, signaturePullSecrets: arr(obj({ name: str })), tagPrefix: presentStr })),
  ctlog: obj({ url: presentStr, trustRootRef: str }),
  attestations: arr(obj({ name: str, predicateType: str, policy: POLICY })),
  rfc3161timestamp: obj({ trustRootRef: str }),
  signatureFormat: str,
});

const MATCH = obj({
  group: str,
  version: str,
  resource: str,
  selector: obj({
    matchLabels: { type: 'stringMap' },
    matchExpressions: arr(obj({ key: str, operator: str, values: arr(str) })),
  }),
});

const CLUSTER_IMAGE_POLICY = obj({
  apiVersion: str,
  kind: str,
  metadata: OBJECT_META,
  spec: obj({ images: arr(obj({ glob: str })), authorities: arr(AUTHORITY), policy: POLICY, mode: str, match: arr(MATCH) }),
  status: ignored,
});

const CERTIFICATE_AUTHORITY = obj({ subject: obj({ organization: str, commonName: str }), uri: str, certChain: presentStr });
const TRANSPARENCY_LOG = obj({ baseURL: str, hashAlgorithm: str, publicKey: presentStr });

const TRUST_ROOT = obj({
  apiVersion: str,
  kind: str,
  metadata: OBJECT_META,
  spec: obj({
    remote: obj({ root: presentStr, mirror: str, targets: str, trustedRootTarget: str }),
    repository: obj({ root: presentStr, mirrorFS: presentStr, targets: str, trustedRootTarget: str }),
    sigstoreKeys: obj({
      certificateAuthorities: arr(CERTIFICATE_AUTHORITY),
      tLogs: arr(TRANSPARENCY_LOG),
      ctLogs: arr(TRANSPARENCY_LOG),
      timestampAuthorities: arr(CERTIFICATE_AUTHORITY),
    }),
  }),
  status: ignored,
});

/**
 * The value with only the schema's fields, or undefined for absent. A null is
 * absent (the API server drops nulls of non-nullable fields). Problems go to
 * `issues` with the field path.
 */
function decode(value: unknown, schema: Schema, path: string, issues: FieldIssue[]): unknown {
  if (value === null || value === undefined || schema.type === 'ignored') return undefined;
  const wrongType = (expected: string) => {
    issues.push(generic(`must be of type ${expected}: "${typeName(value)}"`, path));
    return undefined;
  };
  switch (schema.type) {
    case 'string':
      if (typeof value !== 'string') return wrongType('string');
      return value === '' && !schema.keepEmpty ? undefined : value;
    case 'boolean':
      return typeof value === 'boolean' ? value : wrongType('boolean');
    case 'stringMap': {
      if (!isPlainObject(value)) return wrongType('object');
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string' && v !== null) issues.push(generic(`must be of type string: "${typeName(v)}"`, `${path}.${k}`));
      }
      return Object.fromEntries(Object.entries(value).filter(([, v]) => typeof v === 'string'));
    }
    case 'array':
      if (!Array.isArray(value)) return wrongType('array');
      return value.map((item, i) => {
        const itemPath = `${path}[${i}]`;
        if (item === null) issues.push(generic(`must be of type ${schema.items.type}: "null"`, itemPath));
        return decode(item, schema.items, itemPath, issues);
      });
    case 'object': {
      if (!isPlainObject(value)) return wrongType('object');
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        const fieldPath = path === '' ? k : `${path}.${k}`;
        const field = schema.fields[k];
        if (!field) {
          issues.push(generic(`unknown field "${k}"`, fieldPath));
          continue;
        }
        const decoded = decode(v, field, fieldPath, issues);
        if (decoded !== undefined) out[k] = decoded;
      }
      return out;
    }
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

/** JSON-schema type names, as Kubernetes reports them. */
function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (v instanceof Uint8Array) return 'binary';
  return typeof v;
}
