import { gunzipSync } from 'node:zlib';
import type { Draft } from './draft.ts';
import { goBase64Decode, splitCertificateChain, urlDecodeIssues } from './go-decode.ts';
import { asWarnings, generic, invalidValue, missingField, missingOneOf, multipleOneOf, note, via, viaIndex, type FieldIssue } from './problems.ts';
import type { CertificateAuthority, SigstoreKeys, TransparencyLogInstance, TrustRootSpec } from './types.ts';

/**
 * policy-controller's admission rules for TrustRoot
 * (`pkg/apis/policy/v1alpha1|v1beta1/trustroot_validation.go`, identical in
 * both versions), with its messages and field paths, after the checks Go
 * performs while decoding the object (URLs through `url.Parse`, `[]byte`
 * fields as base64), which are reported at the field's path.
 */

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
  const dropped = note(asWarnings(rounds.flat()), "policy-controller does not report this: its validation keeps only the last entry's findings");
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
