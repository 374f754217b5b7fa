import { parseGoUrl, parseRegistry, parseRepository } from '../registry/reference.ts';
import type { Draft } from './draft.ts';
import { isPublicKeyPem, urlDecodeIssues } from './go-decode.ts';
import { globForPinnedImages, globSyntaxError } from './glob.ts';
import { kmsReferenceError } from './kms.ts';
import {
  asWarnings,
  disallowedFields,
  note,
  generic,
  invalidValue,
  missingField,
  missingOneOf,
  multipleOneOf,
  via,
  viaIndex,
  type FieldIssue,
} from './problems.ts';
import { anchoredForm, compileGoRegExp } from './regexp.ts';
import type {
  AttestationCheck,
  Authority,
  ClusterImagePolicySpec,
  Identity,
  KeyRef,
  KeylessRef,
  MatchResource,
  PolicyCheck,
  Source,
  StaticRef,
} from './types.ts';

/** The message for `configMapRef`, at validation and at verification. */
export const CONFIG_MAP_UNSUPPORTED =
  'configMapRef needs a Kubernetes cluster, which sigwatch does not run in; inline the policy in data or use remote with sha256sum';

/**
 * policy-controller's admission rules for ClusterImagePolicy
 * (`pkg/apis/policy/v1alpha1|v1beta1/clusterimagepolicy_validation.go`,
 * identical in both versions), with its messages and field paths. Where
 * upstream reports a path that does not point at the field (e.g. `spec.type`
 * for `spec.policy.type`), we keep its path and add a note saying where the
 * field really is.
 *
 * Checks Go performs while decoding the object (URLs through `url.Parse`) are
 * here too, reported at the field's path.
 *
 * Findings marked "sigwatch:" are warnings of our own: they never change
 * which documents are accepted, only point at policies that will not do what
 * they seem to.
 */

/** The namespace policy-controller is deployed in (knative `system.Namespace()` of its charts). */
const SYSTEM_NAMESPACE = 'cosign-system';
/** `common.ValidResourceNames` as the policy-controller webhook sets it at start-up. */
const VALID_RESOURCE_NAMES = new Set(['replicasets', 'deployments', 'pods', 'cronjobs', 'jobs', 'statefulsets', 'daemonsets']);
/** cosign's short predicate types: still accepted upstream, with a deprecation warning. */
const SHORT_PREDICATE_TYPES = new Set(['custom', 'slsaprovenance', 'spdx', 'spdxjson', 'cyclonedx', 'link', 'vuln']);
const HASH_ALGORITHMS = new Set(['sha224', 'sha256', 'sha384', 'sha512']);
/** policy-controller reads "bundle" as the new format and anything else as cosign's legacy one. */
const SIGNATURE_FORMATS = new Set(['legacy', 'bundle']);

/** `ClusterImagePolicy.Validate`: findings with paths from `spec`. */
export function validateClusterImagePolicy(spec: Draft<ClusterImagePolicySpec>): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const images = spec.images ?? [];
  if (images.length === 0) issues.push(missingField('images'));
  images.forEach((image, i) => issues.push(...viaIndex('images', i, validateGlob(image.glob))));
  // policy-controller's default `fail-on-empty-authorities: true`.
  const authorities = spec.authorities ?? [];
  if (authorities.length === 0) issues.push(missingField('authorities'));
  authorities.forEach((a, i) => issues.push(...viaIndex('authorities', i, validateAuthority(a))));
  if (spec.mode && spec.mode !== 'enforce' && spec.mode !== 'warn') issues.push(invalidValue(spec.mode, 'mode', 'unsupported mode'));
  (spec.match ?? []).forEach((m, i) => issues.push(...viaIndex('match', i, validateMatch(m))));
  if (spec.match && spec.match.length > 0) {
    issues.push(
      ...asWarnings([
        generic('sigwatch: checks images, not Kubernetes resources: match is not applied, so this policy covers every image its globs match', 'match'),
      ]),
    );
  }
  // Upstream validates spec.policy without naming it (paths come out as spec.type, spec.data…).
  if (spec.policy) issues.push(...note(validatePolicy(spec.policy, true), 'the field is under spec.policy'));
  return via('spec', issues);
}

function validateGlob(glob: string | undefined): FieldIssue[] {
  if (!glob) return [missingField('glob')];
  const reason = globSyntaxError(glob);
  if (reason) return [invalidValue(glob, 'glob', `glob is invalid: ${reason}`)];
  const pinned = globForPinnedImages(glob);
  if (pinned === undefined) return [];
  return asWarnings([
    generic(
      `sigwatch: "${glob}" can never match an image at admission, where every image is pinned to its digest (registry/repo@sha256:..., no tag); "${pinned}" matches the same repositories`,
      'glob',
    ),
  ]);
}

function validateAuthority(a: Draft<Authority>): FieldIssue[] {
  const kinds = [a.key, a.keyless, a.static].filter((k) => k !== undefined).length;
  // Upstream stops here, for a shorter message.
  if (kinds === 0) return [missingOneOf('key', 'keyless', 'static')];
  if (kinds > 1) return [multipleOneOf('key', 'keyless', 'static')];
  const issues: FieldIssue[] = [];
  if (a.key) issues.push(...via('key', validateKeyRef(a.key)));
  if (a.keyless) issues.push(...via('keyless', validateKeyless(a.keyless)));
  if (a.static) {
    issues.push(...via('static', validateStatic(a.static)));
    // Signatures are never looked at with a static authority.
    if ((a.attestations ?? []).length > 0) issues.push(multipleOneOf('static', 'attestations'));
    if ((a.source ?? []).length > 0) issues.push(multipleOneOf('static', 'source'));
    if (a.ctlog) issues.push(multipleOneOf('static', 'ctlog'));
    if (a.rfc3161timestamp) issues.push(multipleOneOf('static', 'rfc3161timestamp'));
  }
  const sources = a.source ?? [];
  if (sources.length > 1) issues.push(invalidValue('source', 'source', 'only single source is supported'));
  else sources.forEach((s, i) => issues.push(...viaIndex('source', i, validateSource(s))));
  if (a.ctlog?.url !== undefined) issues.push(...urlDecodeIssues(a.ctlog.url, 'ctlog.url'));
  // Upstream names no index here: every attestation reports as `attestations.<field>`.
  (a.attestations ?? []).forEach((att, i) => issues.push(...note(via('attestations', validateAttestation(att)), `in attestations[${i}]`)));
  if (a.signatureFormat && !SIGNATURE_FORMATS.has(a.signatureFormat)) {
    issues.push(
      ...asWarnings([
        generic(`sigwatch: "${a.signatureFormat}" is not a signature format; policy-controller reads every value but "bundle" as "legacy"`, 'signatureFormat'),
      ]),
    );
  }
  return issues;
}

function validateStatic(s: Draft<StaticRef>): FieldIssue[] {
  if (!s.action) return [missingField('action')];
  if (s.action !== 'pass' && s.action !== 'fail') return [invalidValue(s.action, 'action', 'unsupported action')];
  return [];
}

function validateMatch(m: Draft<MatchResource>): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (m.resource && !VALID_RESOURCE_NAMES.has(m.resource)) issues.push(invalidValue(m.resource, 'resource', 'unsupported resource name'));
  if (m.selector && !m.resource && !m.version && !m.group) {
    issues.push(invalidValue(m.resource ?? '', 'selector', 'selector requires a resource type to match the labels'));
  }
  return issues;
}

function validateKeyRef(key: Draft<KeyRef>): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (!key.data && !key.kms && !key.secretRef) issues.push(missingOneOf('data', 'kms', 'secretref'));
  if (key.hashAlgorithm && !HASH_ALGORITHMS.has(key.hashAlgorithm.trim().toLowerCase())) {
    issues.push(invalidValue(key.hashAlgorithm, 'hashAlgorithm'));
  }
  if (key.data) {
    if (key.kms || key.secretRef) issues.push(multipleOneOf('data', 'kms', 'secretref'));
    if (!isPublicKeyPem(key.data)) issues.push(invalidValue(key.data, 'data'));
  } else if (key.kms && key.secretRef) {
    issues.push(multipleOneOf('data', 'kms', 'secretref'));
  }
  if (key.kms) {
    const reason = kmsReferenceError(key.kms);
    if (reason) issues.push(invalidValue(key.kms, 'kms', reason));
  }
  const namespace = key.secretRef?.namespace;
  if (namespace && namespace !== SYSTEM_NAMESPACE) {
    issues.push(
      invalidValue(
        namespace,
        'secretref.namespace',
        'secretref.namespace is invalid. If set, it should use the same namespace where the policy-controller was deployed',
      ),
    );
  }
  return issues;
}

function validateKeyless(k: Draft<KeylessRef>): FieldIssue[] {
  const issues: FieldIssue[] = [];
  // Parsing defaults url to the public Fulcio first, as upstream's defaulting webhook does.
  if (k.url === undefined && k['ca-cert'] === undefined) issues.push(missingOneOf('url', 'ca-cert'));
  if (k.url !== undefined && k['ca-cert'] !== undefined) issues.push(multipleOneOf('url', 'ca-cert'));
  if (k.url !== undefined) issues.push(...urlDecodeIssues(k.url, 'url'));
  // Upstream checks ca-cert with the key rules: its data must be a PEM *public key*, not a certificate.
  if (k['ca-cert']) issues.push(...via('ca-cert', validateKeyRef(k['ca-cert'])));
  const identities = k.identities ?? [];
  if (identities.length === 0) issues.push(missingField('identities'));
  identities.forEach((id, i) => issues.push(...viaIndex('identities', i, validateIdentity(id))));
  return issues;
}

function validateIdentity(id: Draft<Identity>): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (id.issuer && id.issuerRegExp) issues.push(multipleOneOf('issuer', 'issuerRegExp'));
  if (id.subject && id.subjectRegExp) issues.push(multipleOneOf('subject', 'subjectRegExp'));
  if (id.issuerRegExp) issues.push(...validateRegExp(id.issuerRegExp, 'issuerRegExp'));
  if (id.subjectRegExp) issues.push(...validateRegExp(id.subjectRegExp, 'subjectRegExp'));
  if (!id.subject && !id.subjectRegExp) issues.push(missingField('subject', 'subjectRegExp'));
  if (!id.issuer && !id.issuerRegExp) issues.push(missingField('issuer', 'issuerRegExp'));
  return issues;
}

function validateSource(s: Draft<Source>): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (s.oci) {
    const reason = ociError(s.oci);
    if (reason) issues.push(invalidValue(s.oci, 'oci', reason));
    else if (!s.oci.includes('/')) issues.push(...asWarnings([generic(bareRegistryNote(s.oci), 'oci')]));
  }
  // Upstream prefixes every earlier finding again for each secret (a knative misuse);
  // we report each missing name once, at its own index.
  (s.signaturePullSecrets ?? []).forEach((secret, i) => {
    if (!secret.name) issues.push(...viaIndex('signaturePullSecrets', i, [missingField('name')]));
  });
  if (s.tagPrefix !== undefined && !validTagPrefix(s.tagPrefix)) {
    issues.push(
      ...asWarnings([
        generic(
          `sigwatch: signature tags "${s.tagPrefix}sha256-<hex>.sig" would not be valid tags (1-128 of A-Z a-z 0-9 _ . -), so no signature can be found`,
          'tagPrefix',
        ),
      ]),
    );
  }
  return issues;
}

/** common.ValidateOCI: a repository (strict) when the first part looks like a host, else a registry (strict). */
function ociError(oci: string): string | undefined {
  const slash = oci.indexOf('/');
  const first = slash >= 0 ? oci.slice(0, slash) : '';
  try {
    if (slash >= 0 && (first.includes('.') || first.includes(':'))) parseRepository(oci, { strict: true });
    else parseRegistry(oci, { strict: true });
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * policy-controller opens source.oci with the weak `name.NewRepository`, which
 * reads a bare host as a Docker Hub repository, or fails on a host with a port.
 */
function bareRegistryNote(oci: string): string {
  try {
    return `sigwatch: "${oci}" names a registry, not a repository; signatures are read from ${parseRepository(oci).repositoryName}`;
  } catch (err) {
    return `sigwatch: "${oci}" names a registry that policy-controller cannot open as a repository (${(err as Error).message}); no signature can be found`;
  }
}

function validTagPrefix(prefix: string): boolean {
  // Legacy signature tags are `<prefix>sha256-<64 hex>.sig` (75 characters without the prefix).
  return /^[A-Za-z0-9_.-]*$/.test(prefix) && prefix.length + 75 <= 128;
}

function validateAttestation(att: Draft<AttestationCheck>): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (!att.name) issues.push(missingField('name'));
  const type = att.predicateType;
  if (!type) issues.push(missingField('predicateType'));
  else if (SHORT_PREDICATE_TYPES.has(type) || !parsesAsRequestUri(type)) {
    issues.push(...asWarnings([invalidValue(type, 'predicateType', 'deprecated value, please use RFC 3986 conformant values')]));
  }
  if (att.policy) issues.push(...via('policy', validatePolicy(att.policy, false)));
  return issues;
}

function parsesAsRequestUri(s: string): boolean {
  try {
    parseGoUrl(s, { request: true });
    return true;
  } catch {
    return false;
  }
}

function validatePolicy(p: Draft<PolicyCheck>, inSpec: boolean): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (p.type !== 'cue' && p.type !== 'rego') issues.push(invalidValue(p.type ?? '', 'type', 'only [cue,rego] are supported at the moment'));
  const given = [p.data ? 1 : 0, p.configMapRef ? 1 : 0, p.remote ? 1 : 0].reduce((a, b) => a + b, 0);
  if (given === 0) issues.push(missingField('data', 'configMapRef', 'remote'));
  if (given > 1) issues.push(multipleOneOf('data', 'configMapRef', 'remote'));
  if (p.remote) {
    const remote: FieldIssue[] = [];
    const url = p.remote.url ?? '';
    if (!isHttpsUrlWithHost(url)) remote.push(invalidValue(url, 'url', 'url valid is invalid. host and https scheme are expected'));
    if (!p.remote.sha256sum) remote.push(missingField('sha256sum'));
    issues.push(...via('remote', remote));
  }
  if (p.configMapRef) {
    const ref: FieldIssue[] = [];
    if (!p.configMapRef.name) ref.push(missingField('name'));
    if (!p.configMapRef.key) ref.push(missingField('key'));
    issues.push(...via('configMapRef', ref));
    // Valid upstream, but there is no cluster to read it from: refuse rather than deny every image later.
    issues.push(generic(`sigwatch: ${CONFIG_MAP_UNSUPPORTED}`, 'configMapRef'));
  }
  if (p.remote?.sha256sum && !/^[0-9a-f]{64}$/.test(p.remote.sha256sum)) {
    issues.push(
      ...asWarnings([
        generic('sigwatch: sha256sum is not 64 lower-case hex digits, so no policy body can match it (the policy will always fail)', 'remote.sha256sum'),
      ]),
    );
  }
  // What a CIP-level policy may see of the image and the resource; attestation policies see their predicate only.
  if (!inSpec) {
    for (const field of ['fetchConfigFile', 'includeSpec', 'includeObjectMeta', 'includeTypeMeta'] as const) {
      if (p[field] !== undefined) issues.push(disallowedFields(field));
    }
  }
  return issues;
}

function isHttpsUrlWithHost(url: string): boolean {
  try {
    const u = parseGoUrl(url);
    return u.host !== '' && u.scheme === 'https';
  } catch {
    return false;
  }
}

/** Upstream compiles identity regexps with Go's `regexp.Compile`, and matches them unanchored. */
function validateRegExp(source: string, field: string): FieldIssue[] {
  const compiled = compileGoRegExp(source);
  if (!compiled.ok) return [invalidValue(source, field, `regex is invalid: ${compiled.message}`)];
  const anchored = anchoredForm(source);
  if (anchored === undefined) return [];
  return asWarnings([generic(`sigwatch: ${anchoringAdvice(source, anchored)}`, field)]);
}

/** What an unanchored identity regexp matches that its author likely did not mean, and the fix. */
function anchoringAdvice(source: string, anchored: string): string {
  const endOnly = anchored === `${source}$`;
  const startOnly = !anchored.endsWith('$') || anchored.endsWith('/');
  if (endOnly)
    return `"${source}" is not anchored at the end, so it also matches values that merely start with it (as in policy-controller); to match the whole value write "${anchored}"`;
  if (startOnly)
    return `"${source}" is not anchored at the start, so it matches anywhere in the value (as in policy-controller); to match only values that start with it write "${anchored}"`;
  return `"${source}" is not anchored, so it matches anywhere in the value (as in policy-controller); to match the whole value write "${anchored}"`;
}
