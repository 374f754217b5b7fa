import { X509Certificate, createPublicKey } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { parseGoUrl, parseRegistry, parseRepository } from '../registry/reference.ts';
import { globSyntaxError } from './glob.ts';
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
import type {
  AttestationCheck,
  Authority,
  CertificateAuthority,
  ClusterImagePolicySpec,
  Identity,
  KeyRef,
  KeylessRef,
  MatchResource,
  PolicyCheck,
  SigstoreKeys,
  Source,
  StaticRef,
  TransparencyLogInstance,
  TrustRootSpec,
} from './types.ts';

/**
 * policy-controller's admission rules for ClusterImagePolicy and TrustRoot
 * (`pkg/apis/policy/v1alpha1|v1beta1/*_validation.go`, identical in both
 * versions), with its messages and field paths. Where upstream reports a path
 * that does not point at the field (e.g. `spec.type` for `spec.policy.type`),
 * we keep its path and add a note saying where the field really is.
 *
 * Checks Go performs while decoding the object (URLs through `url.Parse`,
 * `[]byte` fields as base64) are here too, reported at the field's path.
 *
 * Findings marked "sigwatch:" are warnings of our own: they never change
 * which documents are accepted, only point at policies that will not do what
 * they seem to.
 */

/** A document as decoded, before validation: any field may be missing, any enum any string. */
export type Draft<T> = T extends string
  ? string
  : T extends boolean | number
    ? T
    : T extends readonly (infer U)[]
      ? Draft<U>[]
      : { [K in keyof T]?: Draft<T[K]> };

/** The namespace policy-controller is deployed in (knative `system.Namespace()` of its charts). */
const SYSTEM_NAMESPACE = 'cosign-system';
/** `common.ValidResourceNames` as the policy-controller webhook sets it at start-up. */
const VALID_RESOURCE_NAMES = new Set(['replicasets', 'deployments', 'pods', 'cronjobs', 'jobs', 'statefulsets', 'daemonsets']);
/** cosign's short predicate types: still accepted upstream, with a deprecation warning. */
const SHORT_PREDICATE_TYPES = new Set(['custom', 'slsaprovenance', 'spdx', 'spdxjson', 'cyclonedx', 'link', 'vuln']);
const HASH_ALGORITHMS = new Set(['sha224', 'sha256', 'sha384', 'sha512']);
/** In upstream's order, which its error message prints. */
const KMS_PROVIDERS = ['awskms://', 'azurekms://', 'hashivault://', 'gcpkms://'];
/** policy-controller reads "bundle" as the new format and anything else as cosign's legacy one. */
const SIGNATURE_FORMATS = new Set(['legacy', 'bundle']);

// ---------------------------------------------------------------------------
// ClusterImagePolicy

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
      ...asWarnings([generic('sigwatch: checks images, not Kubernetes resources: match is not applied, so this policy covers every image its globs match', 'match')]),
    );
  }
  // Upstream validates spec.policy without naming it (paths come out as spec.type, spec.data…).
  if (spec.policy) issues.push(...note(validatePolicy(spec.policy, true), 'the field is under spec.policy'));
  return via('spec', issues);
}

function validateGlob(glob: string | undefined): FieldIssue[] {
  if (!glob) return [missingField('glob')];
  const reason = globSyntaxError(glob);
  return reason ? [invalidValue(glob, 'glob', `glob is invalid: ${reason}`)] : [];
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
      ...asWarnings([generic(`sigwatch: "${a.signatureFormat}" is not a signature format; policy-controller reads every value but "bundle" as "legacy"`, 'signatureFormat')]),
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
  if (key.kms) issues.push(...via('kms', validateKms(key.kms)));
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
        generic(`sigwatch: signature tags "${s.tagPrefix}sha256-<hex>.sig" would not be valid tags (1-128 of A-Z a-z 0-9 _ . -), so no signature can be found`, 'tagPrefix'),
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

/** Go decodes knative `apis.URL` fields with `url.Parse`; a failure rejects the object. */
function urlDecodeIssues(url: string, path: string): FieldIssue[] {
  try {
    parseGoUrl(url);
    return [];
  } catch (err) {
    return [generic((err as Error).message, path)];
  }
}

// ---------------------------------------------------------------------------
// KMS references (common.ValidateKMS)

const KMS_FORMAT = 'kms key should be in the format awskms://[ENDPOINT]/[ID/ALIAS/ARN] (endpoint optional)';
const AWS_UUID = 'm?r?k?-?[A-Fa-f0-9]{8}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{12}';
const AWS_ARN = 'arn:(?:aws|aws-us-gov|aws-cn):kms:[a-z0-9-]+:\\d{12}:';
const AWS_KMS_FORMS = [
  new RegExp(`^awskms://([^/]*)/(${AWS_UUID})$`),
  new RegExp(`^awskms://([^/]*)/(${AWS_ARN}key/${AWS_UUID})$`),
  new RegExp(`^awskms://([^/]*)/((alias/.*))$`),
  new RegExp(`^awskms://([^/]*)/(${AWS_ARN}(alias/.*))$`),
];

function validateKms(kms: string): FieldIssue[] {
  if (!KMS_PROVIDERS.some((p) => kms.startsWith(p))) {
    return [invalidValue(kms, '', `malformed KMS format, should be prefixed by any of the supported providers: [${KMS_PROVIDERS.join(' ')}]`)];
  }
  if (!kms.startsWith('awskms://')) return [];
  const reason = awsKmsError(kms);
  return reason ? [invalidValue(kms, '', reason)] : [];
}

/**
 * Upstream's AWS checks, in order. Note the last one: the key part must parse
 * as an ARN, so plain key ids (`awskms:///1234abcd-…`) and alias names
 * (`awskms:///alias/x`) are rejected although the format regexps allow them.
 */
function awsKmsError(kms: string): string | undefined {
  const parts = kms.split('/');
  if (parts.length < 4) {
    return "malformed AWS KMS format 'awskms://$ENDPOINT/$KEYID', should be conformant with KMS standard documented here: https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id";
  }
  if (!AWS_KMS_FORMS.some((re) => re.test(kms))) return KMS_FORMAT;
  const endpoint = parts[2]!;
  if (endpoint.startsWith('arn') || endpoint.startsWith('alias')) return KMS_FORMAT;
  if (endpoint !== '') {
    const reason = goSplitHostPortError(endpoint);
    if (reason) return `malformed endpoint: ${reason}`;
  }
  const keyId = parts[3]!;
  if (!keyId.startsWith('arn:')) return 'failed to parse either key or alias arn: arn: invalid prefix';
  // The format regexps above guarantee the ARN has its sections and a key or alias resource.
  return undefined;
}

/** Go's `net.SplitHostPort` error text, or undefined when it splits. */
function goSplitHostPortError(hostport: string): string | undefined {
  const fail = (why: string) => `address ${hostport}: ${why}`;
  const colon = hostport.lastIndexOf(':');
  if (colon < 0) return fail('missing port in address');
  let j = 0;
  let k = 0;
  if (hostport.startsWith('[')) {
    const end = hostport.indexOf(']');
    if (end < 0) return fail("missing ']' in address");
    if (end + 1 === hostport.length) return fail('missing port in address');
    if (end + 1 !== colon) return fail(hostport[end + 1] === ':' ? 'too many colons in address' : 'missing port in address');
    j = 1;
    k = end + 1;
  } else if (hostport.slice(0, colon).includes(':')) {
    return fail('too many colons in address');
  }
  if (hostport.slice(j).includes('[')) return fail("unexpected '[' in address");
  if (hostport.slice(k).includes(']')) return fail("unexpected ']' in address");
  return undefined;
}

// ---------------------------------------------------------------------------
// Public keys (cryptoutils.UnmarshalPEMToPublicKey)

/** Curves Go's x509.ParsePKIXPublicKey accepts (node names them differently). */
const GO_EC_CURVES = new Set(['secp224r1', 'prime256v1', 'secp384r1', 'secp521r1']);
const GO_KEY_TYPES = new Set(['rsa', 'dsa', 'ed25519', 'x25519']);

/** True when the first PEM block is a `PUBLIC KEY` (PKIX) or `RSA PUBLIC KEY` (PKCS#1) Go can use. */
export function isPublicKeyPem(text: string): boolean {
  const block = firstPemBlock(text);
  if (!block || (block.type !== 'PUBLIC KEY' && block.type !== 'RSA PUBLIC KEY')) return false;
  try {
    const key = createPublicKey({ key: block.der, format: 'der', type: block.type === 'PUBLIC KEY' ? 'spki' : 'pkcs1' });
    if (key.asymmetricKeyType === 'ec') return GO_EC_CURVES.has(key.asymmetricKeyDetails?.namedCurve ?? '');
    return GO_KEY_TYPES.has(key.asymmetricKeyType ?? '');
  } catch {
    return false;
  }
}

interface PemBlock {
  type: string;
  der: Buffer;
  /** Text after the block's END line. */
  rest: string;
}

/**
 * Go's `pem.Decode`: the first well-formed block (BEGIN at the start or after
 * a newline, matching END, valid base64), skipping text and broken blocks
 * before it. Headers (`Key: value` lines) are not supported: keys have none.
 */
function firstPemBlock(text: string): PemBlock | undefined {
  const BEGIN = '-----BEGIN ';
  let from = 0;
  for (;;) {
    const at = text.startsWith(BEGIN, from) ? from : text.indexOf(`\n${BEGIN}`, from);
    if (at < 0) return undefined;
    const typeStart = (text[at] === '\n' ? at + 1 : at) + BEGIN.length;
    const eol = text.indexOf('\n', typeStart);
    const typeLine = text.slice(typeStart, eol < 0 ? text.length : eol).replace(/[ \t\r]+$/, '');
    from = eol < 0 ? text.length : eol + 1;
    if (!typeLine.endsWith('-----') || eol < 0) continue;
    const type = typeLine.slice(0, -5);
    const body = text.slice(from);
    const end = body.startsWith('-----END ') ? 0 : body.indexOf('\n-----END ');
    if (end < 0) continue;
    const trailerStart = end === 0 ? '-----END '.length : end + '\n-----END '.length;
    const trailer = `${type}-----`;
    if (!body.startsWith(trailer, trailerStart)) continue;
    const afterEnd = body.slice(trailerStart + trailer.length);
    const lineEnd = afterEnd.indexOf('\n');
    if (afterEnd.slice(0, lineEnd < 0 ? afterEnd.length : lineEnd).replace(/[ \t\r]+$/, '') !== '') continue;
    const der = goBase64Decode(body.slice(0, end).replace(/[ \t]/g, ''));
    if (!Buffer.isBuffer(der)) continue;
    return { type, der, rest: lineEnd < 0 ? '' : afterEnd.slice(lineEnd + 1) };
  }
}

/**
 * Go's `base64.StdEncoding.Decode` (what encoding/json does to `[]byte`
 * fields): padding required, `\r` and `\n` ignored. Returns the bytes, or
 * Go's error text with the offset Go reports.
 */
function goBase64Decode(s: string): Buffer | string {
  const fail = (at: number) => `illegal base64 data at input byte ${at}`;
  const isData = (c: string | undefined) => c !== undefined && /[A-Za-z0-9+/]/.test(c);
  const isNewline = (c: string | undefined) => c === '\n' || c === '\r';
  let si = 0;
  let clean = '';
  for (;;) {
    let quantum = '';
    let j = 0;
    for (; j < 4; j++) {
      if (si === s.length) {
        if (j === 0) return Buffer.from(clean, 'base64');
        return fail(si - j);
      }
      const c = s[si]!;
      si += 1;
      if (isData(c)) {
        quantum += c;
        continue;
      }
      if (isNewline(c)) {
        j -= 1;
        continue;
      }
      if (c !== '=' || j < 2) return fail(si - 1);
      if (j === 2) {
        while (isNewline(s[si])) si += 1;
        if (si === s.length) return fail(s.length);
        if (s[si] !== '=') return fail(si - 1);
        si += 1;
      }
      while (isNewline(s[si])) si += 1;
      if (si < s.length) return fail(si);
      return Buffer.from(clean + quantum, 'base64');
    }
    clean += quantum;
  }
}

// ---------------------------------------------------------------------------
// Regular expressions (issuerRegExp, subjectRegExp)
//
// Upstream compiles these with Go's RE2 and matches them unanchored
// (`regexp.MatchString`). sigwatch evaluates them with JavaScript RegExp in
// unicode mode, so here we (1) reject, with Go's message, what RE2 rejects and
// people do write: look-around, back-references, misplaced or nested
// repetition, counts over 1000, unbalanced groups; (2) reject, with our own
// message, RE2 syntax JavaScript lacks or reads differently (`(?i)`, `(?P<n>`,
// `\A`, `\z`, `\Q…\E`, `\pL`, `[[:alpha:]]`, octal escapes, `\x{…}`); (3) let
// JavaScript report anything else. Differences that remain, with the same
// syntax: `\s` also matches Unicode spaces in JavaScript, and `.` also stops
// at `\r`, U+2028 and U+2029. A full RE2 check would need re2js.

/** The RegExp sigwatch evaluates an identity regexp with (unanchored, as upstream). Throws when invalid. */
export function identityRegExp(source: string): RegExp {
  return new RegExp(source, 'u');
}

function validateRegExp(source: string, field: string): FieldIssue[] {
  const reason = regExpError(source);
  if (reason) return [invalidValue(source, field, `regex is invalid: ${reason}`)];
  const anchored = anchoredForm(source);
  if (anchored === undefined) return [];
  return asWarnings([
    generic(`sigwatch: "${source}" is not anchored, so it matches anywhere in the value (as in policy-controller); to match the whole value write "${anchored}"`, field),
  ]);
}

function regExpError(source: string): string | undefined {
  const re2 = re2SyntaxError(source);
  if (re2) return re2;
  try {
    identityRegExp(source);
    return undefined;
  } catch (err) {
    return (err as Error).message.replace(/^Invalid regular expression: \/.*\/u: /s, '');
  }
}

function goRegexpError(kind: string, text: string): string {
  return `error parsing regexp: ${kind}: \`${text}\``;
}

function unsupported(text: string): string {
  return `sigwatch does not support the RE2 syntax \`${text}\` yet (it evaluates identities with JavaScript RegExp)`;
}

/** The RE2 checks described above; undefined when none applies. */
function re2SyntaxError(s: string): string | undefined {
  let depth = 0;
  // Whether the previous item can be repeated, and the text of a repetition just applied.
  let operand = false;
  let lastRepeat: { start: number } | undefined;
  for (let i = 0; i < s.length; ) {
    const c = s[i]!;
    if (c === '\\') {
      const escape = escapeError(s, i);
      if (escape) return escape;
      i += escapeLength(s, i);
      operand = true;
      lastRepeat = undefined;
    } else if (c === '[') {
      if (s.startsWith('[[:', i) || s.startsWith('[^[:', i)) return unsupported('[[:');
      const end = classEnd(s, i);
      if (end < 0) return goRegexpError('missing closing ]', s.slice(i));
      const inner = s.slice(i, end);
      const escapeAt = inner.indexOf('\\');
      if (escapeAt >= 0) {
        for (let e = i + escapeAt; e < end; ) {
          if (s[e] === '\\') {
            const escape = escapeError(s, e);
            if (escape) return escape;
            e += escapeLength(s, e);
          } else e += 1;
        }
      }
      i = end;
      operand = true;
      lastRepeat = undefined;
    } else if (c === '(') {
      if (s[i + 1] === '?') {
        const group = groupError(s, i);
        if (group) return group;
      }
      depth += 1;
      i += s[i + 1] === '?' ? groupPrefixLength(s, i) : 1;
      operand = false;
      lastRepeat = undefined;
    } else if (c === ')') {
      if (depth === 0) return goRegexpError('unexpected )', s);
      depth -= 1;
      i += 1;
      operand = true;
      lastRepeat = undefined;
    } else if (c === '|') {
      i += 1;
      operand = false;
      lastRepeat = undefined;
    } else if (c === '*' || c === '+' || c === '?' || (c === '{' && repeatCount(s, i) !== undefined)) {
      let end = i + 1;
      if (c === '{') {
        const count = repeatCount(s, i)!;
        if (count.min > 1000 || count.max > 1000 || (count.max >= 0 && count.min > count.max)) {
          return goRegexpError('invalid repeat count', s.slice(i, count.end));
        }
        end = count.end;
      }
      if (s[end] === '?') end += 1;
      if (lastRepeat) return goRegexpError('invalid nested repetition operator', s.slice(lastRepeat.start, end));
      if (!operand) return goRegexpError('missing argument to repetition operator', s.slice(i, end));
      lastRepeat = { start: i };
      i = end;
    } else if (c === '{' || c === '}' || c === ']') {
      // RE2 reads these as literals where JavaScript's unicode mode refuses them.
      return unsupported(c);
    } else {
      i += 1;
      operand = true;
      lastRepeat = undefined;
    }
  }
  if (depth > 0) return goRegexpError('missing closing )', s);
  return undefined;
}

function escapeError(s: string, i: number): string | undefined {
  const n = s[i + 1];
  if (n === undefined) return goRegexpError('trailing backslash at end of expression', '');
  if (/[1-7]/.test(n) && /[0-7]/.test(s[i + 2] ?? '')) return unsupported(s.slice(i, i + 3));
  if (n === '0' && /[0-7]/.test(s[i + 2] ?? '')) return unsupported(s.slice(i, i + 3));
  if (/[1-9]/.test(n)) return goRegexpError('invalid escape sequence', `\\${n}`);
  if ('AzQa'.includes(n)) return unsupported(`\\${n}`);
  if ((n === 'p' || n === 'P') && s[i + 2] !== '{') return unsupported(s.slice(i, i + 3));
  if (n === 'x' && s[i + 2] === '{') return unsupported('\\x{');
  // RE2's letter escapes; any other letter or digit is an error there.
  if (/[A-Za-z0-9]/.test(n) && !'0bBdDsSwWfnrtvxpP'.includes(n)) return goRegexpError('invalid escape sequence', `\\${n}`);
  return undefined;
}

function escapeLength(s: string, i: number): number {
  const n = s[i + 1];
  if ((n === 'p' || n === 'P') && s[i + 2] === '{') {
    const close = s.indexOf('}', i);
    return close < 0 ? 2 : close - i + 1;
  }
  if (n === 'x') return 4;
  return 2;
}

/** Index just past the `]` closing the class opening at `i`, or -1. RE2 takes a leading `]` literally. */
function classEnd(s: string, i: number): number {
  let j = i + 1;
  if (s[j] === '^') j += 1;
  if (s[j] === ']') j += 1;
  while (j < s.length) {
    if (s[j] === '\\') j += 2;
    else if (s[j] === ']') return j + 1;
    else j += 1;
  }
  return -1;
}

/** Go's checks on `(?…`: named captures and flag groups. */
function groupError(s: string, i: number): string | undefined {
  const rest = s.slice(i);
  const named = /^\(\?P?</.exec(rest);
  if (named) {
    const close = rest.indexOf('>');
    if (close < 0) return goRegexpError('invalid named capture', rest);
    const name = rest.slice(named[0].length, close);
    if (!/^[A-Za-z0-9_]+$/.test(name)) return goRegexpError('invalid named capture', rest.slice(0, close + 1));
    return rest.startsWith('(?P<') ? unsupported('(?P<') : undefined;
  }
  // Flags: (?i) (?i:…) (?-s) and so on; (?: is the plain non-capturing group.
  let j = 2;
  let negated = false;
  let sawFlag = false;
  for (; j < rest.length; j++) {
    const c = rest[j]!;
    if ('imsU'.includes(c)) sawFlag = true;
    else if (c === '-' && !negated) {
      negated = true;
      sawFlag = false;
    } else if ((c === ':' || c === ')') && (!negated || sawFlag)) {
      return j === 2 && c === ':' ? undefined : unsupported(rest.slice(0, j + 1));
    } else {
      return goRegexpError('invalid or unsupported Perl syntax', rest.slice(0, j + 1));
    }
  }
  return goRegexpError('invalid or unsupported Perl syntax', rest);
}

function groupPrefixLength(s: string, i: number): number {
  return s.startsWith('(?:', i) ? 3 : s.slice(i).indexOf('>') + 1;
}

/** `{n}`, `{n,}` or `{n,m}` at `i` (max -1 for none), or undefined when RE2 reads `{` literally. */
function repeatCount(s: string, i: number): { min: number; max: number; end: number } | undefined {
  const m = /^\{(\d+)(,(\d*))?\}/.exec(s.slice(i));
  if (!m) return undefined;
  const min = Number(m[1]);
  const max = m[2] === undefined ? min : m[3] === '' ? -1 : Number(m[3]);
  return { min, max, end: i + m[0].length };
}

/**
 * The regexp anchored at both ends, or undefined when it already is (`^…$`,
 * or a leading / trailing `.*` that makes that end irrelevant).
 */
function anchoredForm(source: string): string | undefined {
  const alternatives = topLevelAlternatives(source);
  const startOk = alternatives.every((a) => a.startsWith('^') || a.startsWith('.*'));
  const endOk = alternatives.every((a) => (a.endsWith('$') && !escapedAt(a, a.length - 1)) || (a.endsWith('.*') && !escapedAt(a, a.length - 2)));
  if (startOk && endOk) return undefined;
  if (alternatives.length > 1) return `^(?:${source})$`;
  return `${startOk ? '' : '^'}${source}${endOk ? '' : '$'}`;
}

function escapedAt(s: string, index: number): boolean {
  let backslashes = 0;
  for (let i = index - 1; i >= 0 && s[i] === '\\'; i--) backslashes += 1;
  return backslashes % 2 === 1;
}

function topLevelAlternatives(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') i += 1;
    // Only called on valid regexps, whose classes are closed.
    else if (c === '[') i = Math.max(classEnd(s, i), i + 1) - 1;
    else if (c === '(') depth += 1;
    else if (c === ')') depth -= 1;
    else if (c === '|' && depth === 0) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts;
}

// ---------------------------------------------------------------------------
// TrustRoot

/** `TrustRoot.Validate` (after Go decoded its URLs and base64 fields): findings with paths from `spec`. */
export function validateTrustRoot(spec: Draft<TrustRootSpec>): FieldIssue[] {
  return via('spec', [...trustRootDecodeIssues(spec), ...trustRootRuleIssues(spec)]);
}

function trustRootDecodeIssues(spec: Draft<TrustRootSpec>): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const bytes = (value: string | undefined, path: string) => {
    if (value === undefined) return;
    const decoded = goBase64Decode(value);
    if (typeof decoded === 'string') issues.push(generic(decoded, path));
  };
  const url = (value: string | undefined, path: string) => {
    if (value !== undefined) issues.push(...urlDecodeIssues(value, path));
  };
  if (spec.remote) {
    bytes(spec.remote.root, 'remote.root');
    url(spec.remote.mirror, 'remote.mirror');
  }
  if (spec.repository) {
    bytes(spec.repository.root, 'repository.root');
    bytes(spec.repository.mirrorFS, 'repository.mirrorFS');
  }
  const keys = spec.sigstoreKeys;
  const authorities = (list: Draft<CertificateAuthority>[] | undefined, field: string) =>
    (list ?? []).forEach((ca, i) => {
      bytes(ca.certChain, `sigstoreKeys.${field}[${i}].certChain`);
      url(ca.uri, `sigstoreKeys.${field}[${i}].uri`);
    });
  const logs = (list: Draft<TransparencyLogInstance>[] | undefined, field: string) =>
    (list ?? []).forEach((log, i) => {
      bytes(log.publicKey, `sigstoreKeys.${field}[${i}].publicKey`);
      url(log.baseURL, `sigstoreKeys.${field}[${i}].baseURL`);
    });
  authorities(keys?.certificateAuthorities, 'certificateAuthorities');
  authorities(keys?.timestampAuthorities, 'timestampAuthorities');
  logs(keys?.tLogs, 'tLogs');
  logs(keys?.ctLogs, 'ctLogs');
  return issues;
}

function trustRootRuleIssues(spec: Draft<TrustRootSpec>): FieldIssue[] {
  const given = [spec.repository, spec.remote, spec.sigstoreKeys].filter((x) => x !== undefined).length;
  if (given === 0) return [missingOneOf('repository', 'remote', 'sigstoreKeys')];
  if (given > 1) return [multipleOneOf('repository', 'remote', 'sigstoreKeys')];
  if (spec.repository) return via('repository', validateRepository(spec.repository));
  if (spec.remote) {
    const issues: FieldIssue[] = [];
    if (!spec.remote.mirror) issues.push(missingField('mirror'));
    issues.push(...validateRoot(spec.remote.root));
    return via('remote', issues);
  }
  return via('sigstoreKeys', validateSigstoreKeys(spec.sigstoreKeys!));
}

function validateRepository(repo: Draft<NonNullable<TrustRootSpec['repository']>>): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (!repo.targets) issues.push(missingField('targets'));
  issues.push(...validateRoot(repo.root));
  const mirror = repo.mirrorFS === undefined ? Buffer.alloc(0) : goBase64Decode(repo.mirrorFS);
  // Upstream names the missing mirrorFS "repository".
  if (typeof mirror !== 'string' && mirror.length === 0) issues.push(missingField('repository'));
  else if (issues.length === 0 && Buffer.isBuffer(mirror)) {
    // Upstream builds a TUF client from the mirror; we check it is a gzip stream
    // (the first thing that fails for a wrong file) but not the TUF metadata inside.
    const reason = gunzipError(mirror);
    if (reason) issues.push(invalidValue('failed to construct a TUF client', 'mirrorFS', `failed to uncompress: ${reason}`));
  }
  return issues;
}

const MAX_MIRROR_BYTES = 64 * 1024 * 1024;

function gunzipError(data: Buffer): string | undefined {
  if (data.length < 2 || data[0] !== 0x1f || data[1] !== 0x8b) return 'gzip: invalid header';
  try {
    gunzipSync(data, { maxOutputLength: MAX_MIRROR_BYTES });
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** ValidateRoot: the TUF root.json must be a JSON object with signatures. */
function validateRoot(root: string | undefined): FieldIssue[] {
  if (root === undefined) return [missingField('root')];
  const bytes = goBase64Decode(root);
  // A base64 error is already reported as a decoding failure.
  if (typeof bytes === 'string') return [];
  const text = bytes.toString('utf8');
  let parsed: unknown;
  try {
    parsed = text.trim() === '' ? undefined : JSON.parse(text);
  } catch (err) {
    return [invalidValue('failed to unmarshal', 'root', (err as Error).message)];
  }
  if (parsed === undefined) return [invalidValue('failed to unmarshal', 'root', 'unexpected end of JSON input')];
  if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed))) {
    return [invalidValue('failed to unmarshal', 'root', `json: cannot unmarshal ${goJsonType(parsed)} into Go value of type map[string]interface {}`)];
  }
  const signatures = (parsed as Record<string, unknown> | null)?.signatures;
  if (signatures === undefined || signatures === null) return [invalidValue('missing signatures in root.json', 'root', 'no signatures')];
  return [];
}

function goJsonType(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  return typeof v;
}

/**
 * SigstoreKeys.Validate. Upstream assigns (instead of appending) each entry's
 * findings, so only the last entry of the last non-empty list among
 * certificateAuthorities, timestampAuthorities, ctLogs, tLogs can reject the
 * TrustRoot. We accept and reject the same documents, and show what upstream
 * drops as warnings. Its paths say `certificateAuthority[i]` and `certchain`.
 */
function validateSigstoreKeys(keys: Draft<SigstoreKeys>): FieldIssue[] {
  const cas = keys.certificateAuthorities ?? [];
  const tsas = keys.timestampAuthorities ?? [];
  const rounds: FieldIssue[][] = [];
  if (cas.length === 0 && tsas.length === 0) rounds.push([missingOneOf('certificateAuthority', 'timestampAuthorities')]);
  else cas.forEach((ca, i) => rounds.push(viaIndex('certificateAuthority', i, validateCertificateAuthority(ca))));
  tsas.forEach((tsa, i) => rounds.push(viaIndex('timestampAuthorities', i, validateTimestampAuthority(tsa))));
  (keys.ctLogs ?? []).forEach((log, i) => rounds.push(viaIndex('ctLogs', i, validateLog(log))));
  (keys.tLogs ?? []).forEach((log, i) => rounds.push(viaIndex('tLogs', i, validateLog(log))));
  const kept = rounds.pop() ?? [];
  const dropped = note(asWarnings(rounds.flat()), 'policy-controller does not report this: its validation keeps only the last entry\'s findings');
  return [...dropped, ...kept];
}

function validateCertificateAuthority(ca: Draft<CertificateAuthority>): FieldIssue[] {
  const issues = via('subject', validateDistinguishedName(ca.subject ?? {}));
  if (!ca.uri) issues.push(missingField('uri'));
  if (!ca.certChain) issues.push(missingField('certchain'));
  return issues;
}

function validateTimestampAuthority(tsa: Draft<CertificateAuthority>): FieldIssue[] {
  const issues = validateCertificateAuthority(tsa);
  const chain = tsa.certChain === undefined ? Buffer.alloc(0) : goBase64Decode(tsa.certChain);
  if (typeof chain === 'string') return issues;
  const split = splitCertificateChain(chain.toString('latin1'));
  if (typeof split === 'string') issues.push(invalidValue('error splitting the certificates', 'certChain', split));
  else if (split.leaves > 1) issues.push(invalidValue('certificate chain must contain at most one TSA certificate', 'certChain'));
  return issues;
}

function validateDistinguishedName(dn: Draft<CertificateAuthority['subject']>): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (!dn.organization) issues.push(missingField('organization'));
  if (!dn.commonName) issues.push(missingField('commonName'));
  return issues;
}

function validateLog(log: Draft<TransparencyLogInstance>): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (!log.baseURL) issues.push(missingField('baseURL'));
  if (!log.hashAlgorithm) issues.push(missingField('hashAlgorithm'));
  if (!log.publicKey) issues.push(missingField('publicKey'));
  return issues;
}

/** cryptoutils.UnmarshalCertificatesFromPEM, counting the non-CA ("leaf") certificates. */
function splitCertificateChain(pem: string): { leaves: number } | string {
  let rest = pem.trim();
  let leaves = 0;
  while (rest.length > 0) {
    const block = firstPemBlock(rest);
    if (!block) return 'error during PEM decoding';
    try {
      if (!new X509Certificate(block.der).ca) leaves += 1;
    } catch (err) {
      return `x509: ${(err as Error).message}`;
    }
    rest = block.rest;
  }
  return { leaves };
}
