import type { TrustMaterial } from '@sigstore/verify';
import { checkAttestations, type AttestationAuthorityResult, type VerifiedAttestation } from './attestations.ts';
import { defaultPolicyEvaluator, type PolicyEvaluator } from './policy-engines/evaluate.ts';
import { namesDigest, parseStatement, subjectDigests } from './evidence/attestation/statement.ts';
import { verifyAttestationBundle, verifyLegacyAttestationKeyless, verifyLegacyAttestationWithKeys } from './evidence/attestation/verify.ts';
import { isUnavailable, reasonOf } from '../errors.ts';
import type { AttestationLookup, DsseEnvelope, LegacyAttestation } from './evidence/attestation/fetch.ts';
import { signedDigest } from './evidence/legacy-signature/simple-signing.ts';
import type { CosignSignature, SignatureLookup } from './evidence/legacy-signature/types.ts';
import { findSigningKey, verifyKeySignatureInLog } from './evidence/legacy-signature/verify-key.ts';
import type { BundleLookup, ReferrerBundle } from './evidence/bundle/fetch.ts';
import type { CertificateIdentity } from './sigstore/certificate-identity.ts';
import type { KeylessRequirements } from './evidence/legacy-signature/verify-keyless.ts';
import { COSIGN_SIGN_PREDICATE, parseBundle, verifyImageBundle, verifyKeyImageBundle } from './evidence/bundle/verify.ts';
import { isObject } from '../json.ts';
import { VerificationError } from './errors.ts';
import { parseEvidenceJson } from './evidence/strict-json.ts';
import { verifyKeylessSignature } from './evidence/legacy-signature/verify-keyless.ts';
import { parsePublicKeys, type PublicKey } from '../trust/keys.ts';
import { describeIdentity, matchedSubject } from './identities.ts';
import type { Authority, HashAlgorithm, KeylessRef, Source } from '../policy/types.ts';
import type { AuthorityResult, SignerIdentity, VerifiedSignature } from './verdict.ts';

/**
 * Upstream turns every `source` entry into registry options applied in order,
 * so the last `oci` and the last `tagPrefix` win and pull secrets add up:
 * sources are one place to look, not alternatives.
 */
function effectiveSource(authority: Authority): Source | undefined {
  if (!authority.source?.length) return undefined;
  const out: Source = {};
  for (const s of authority.source) {
    if (s.oci) out.oci = s.oci;
    if (s.tagPrefix) out.tagPrefix = s.tagPrefix;
    if (s.signaturePullSecrets?.length) out.signaturePullSecrets = [...(out.signaturePullSecrets ?? []), ...s.signaturePullSecrets];
  }
  return out;
}

/** What an authority check needs to know about the image, with I/O passed in. */
export interface AuthorityEnv {
  imageDigest: string;
  /** The image's legacy `.sig` signatures in a source (the image's own repository when undefined). */
  signatures(source: Source | undefined): Promise<SignatureLookup>;
  /** The sigstore bundles attached to the image as OCI referrers in a source. */
  bundles(source: Source | undefined): Promise<BundleLookup>;
  /** Trust material for keyless authorities that name no trustRootRef. */
  defaultTrust(): TrustMaterial;
  /** Trust material of the `TrustRoot` resource of that name (TUF roots are fetched); rejects when there is none or it does not verify. */
  trustRoot(name: string): Promise<TrustMaterial>;
  /** The public key behind a `key.kms` reference; absent where no KMS access is configured. */
  kmsKey?: (kms: string) => Promise<PublicKey>;
  /** The public key of a `key.secretRef`, from the team's secrets; absent where none are configured. */
  secretKey?: (name: string) => Promise<PublicKey[]>;
  /** The image's legacy `.att` attestations in a source; absent where attestations are not read (authorities with attestations then fail). */
  attestations?: (source: Source | undefined) => Promise<AttestationLookup>;
  /** Evaluates attestation policies (default: CUE loaded on first use, remote policies over HTTPS). */
  policy?: PolicyEvaluator;
}

type Outcome = { identity: SignerIdentity } | { failure: string };

/**
 * Authenticates one piece of evidence: whom it is from, or why it is not
 * acceptable. `legacy` checks the signature only (the payload's digest is
 * compared after); `bundle` checks all.
 */
interface SignatureCheck {
  legacy: (sig: CosignSignature) => Outcome;
  bundle: (bundle: ReferrerBundle) => Outcome;
  format: EvidenceFormat;
}

/**
 * Where an authority looks: `signatureFormat: bundle` reads referrer bundles
 * only, an explicit `legacy` (or any other value, as policy-controller reads
 * it) the `.sig`/`.att` tags only; unset reads both, and then, as cosign v3's
 * `verify` and `verify-attestation` do, an image that has sigstore bundles is
 * judged by its bundles alone.
 */
type EvidenceFormat = 'legacy' | 'bundle' | 'both';

function evidenceFormat(authority: Authority): EvidenceFormat {
  if (authority.signatureFormat === undefined || authority.signatureFormat === '') return 'both';
  return authority.signatureFormat === 'bundle' ? 'bundle' : 'legacy';
}

/**
 * cosign reads a referrer as a bundle only when it parses and is v0.3 or
 * later (`ociremote.Bundle`); others are not signatures to it, nor here.
 */
function bundleVersionProblem(b: ReferrerBundle): string | undefined {
  const mediaType = isObject(b.json) ? b.json.mediaType : undefined;
  if (typeof mediaType !== 'string') return undefined;
  const old = /^application\/vnd\.dev\.sigstore\.bundle\+json;version=0\.[12]$/.exec(mediaType);
  return old ? `bundle version too old (${mediaType}; cosign reads v0.3 and later)` : undefined;
}

/**
 * Whether the image has cosign v3 evidence of this kind, so that its legacy
 * evidence is not used: for signatures a bundle with the cosign sign
 * statement, for attestations a bundle with any other. cosign v3 counts every
 * bundle for both (so a lone SBOM bundle would hide a valid `.sig` from
 * `cosign verify`, and verify as a signature); judging by the kind keeps an
 * image signed the legacy way and attested with a bundle admitted, as
 * policy-controller admits it. The statement is read unverified only to sort:
 * a forged one can hide legacy evidence (a deny), never admit.
 */
function hasBundlesOfKind(bundles: ReferrerBundle[], kind: 'signature' | 'attestation'): boolean {
  return bundles.some((b) => {
    if (bundleVersionProblem(b)) return false;
    const predicate = bundlePredicateType(b.json);
    if (predicate === undefined) return false;
    return kind === 'signature' ? predicate === COSIGN_SIGN_PREDICATE : predicate !== COSIGN_SIGN_PREDICATE;
  });
}

/** The predicate type a bundle's DSSE statement claims, unverified; undefined when it is not a DSSE statement bundle. */
function bundlePredicateType(json: unknown): string | undefined {
  try {
    const bundle = parseBundle(json);
    if (bundle.content.$case !== 'dsseEnvelope') return undefined;
    // As strictly as the verification reads it: a statement it would refuse sorts nowhere.
    const statement = parseEvidenceJson(Buffer.from(bundle.content.dsseEnvelope.payload).toString('utf8'), 'in-toto statement');
    return isObject(statement) && typeof statement.predicateType === 'string' ? statement.predicateType : undefined;
  } catch {
    return undefined;
  }
}

const legacyIgnored = (kind: 'signature' | 'attestation') =>
  `the image has cosign v3 ${kind} bundles, so its legacy ${kind}s are not used (as cosign v3 verify${kind === 'attestation' ? '-attestation' : ''}; set signatureFormat: legacy to read them instead)`;

/** The same for attestations: a verified envelope's payload, or why not. */
type EnvelopeOutcome = { identity: SignerIdentity; envelope: DsseEnvelope } | { failure: string };
interface AttestationCheck {
  legacy: (att: LegacyAttestation) => EnvelopeOutcome;
  bundle: (bundle: ReferrerBundle) => EnvelopeOutcome;
  format: EvidenceFormat;
}

/**
 * One authority's verdict on one image. Any error is a `fail` with its reason:
 * a policy passes only on positive evidence.
 */
export async function checkAuthority(authority: Authority, env: AuthorityEnv): Promise<AuthorityResult> {
  const fail = (reason: string): AuthorityResult => ({ name: authority.name, verdict: 'fail', reason, signatures: [] });
  try {
    if (authority.static) {
      // Upstream's wording, so messages read the same as in a cluster.
      if (authority.static.action === 'pass') return { name: authority.name, verdict: 'pass', reason: 'allowed by static policy', signatures: [] };
      return fail(`disallowed by static policy: ${authority.static.message ?? ''}`);
    }
    const verifier = await authorityVerifier(authority, env);
    if (typeof verifier === 'string') return fail(verifier);
    if (authority.attestations?.length) {
      const check = attestationCheck(verifier, authority, env);
      if (typeof check === 'string') return fail(check);
      return await checkAuthorityAttestations(authority, env, check);
    }
    return await checkSignatures(authority, env, signatureCheck(verifier, authority, env));
  } catch (err) {
    // Evidence that could not be read in time is no judgement of the image: marked, for the `error` verdict.
    if (isUnavailable(err)) return { ...fail(reasonOf(err)), error: { code: err.code, message: err.message } };
    return fail(reasonOf(err));
  }
}

/** What an authority trusts: keys (and whether their log entry is required) or a keyless root and identities. */
type AuthorityVerifier =
  | { kind: 'key'; keys: PublicKey[]; hash: HashAlgorithm; logTrust?: TrustMaterial }
  | { kind: 'keyless'; trust: TrustMaterial; requirements: KeylessRequirements; identities: KeylessRef['identities'] };

/** The trust of a key or keyless authority, or why it cannot be checked (fail closed). */
async function authorityVerifier(authority: Authority, env: AuthorityEnv): Promise<AuthorityVerifier | string> {
  if (authority.key) {
    // With rfc3161timestamp upstream requires that evidence too; never skip it silently.
    if (authority.rfc3161timestamp) return 'rfc3161timestamp on key authorities is not supported yet';
    let keys: PublicKey[];
    if (authority.key.data !== undefined) keys = parsePublicKeys(authority.key.data, `authority ${authority.name} key.data`);
    else if (authority.key.kms !== undefined) {
      if (!env.kmsKey) return 'KMS keys need AWS access, which is not configured here';
      keys = [await env.kmsKey(authority.key.kms)];
    } else if (authority.key.secretRef?.name) {
      if (!env.secretKey) return 'key.secretRef needs a secrets store, which is not configured here';
      keys = await env.secretKey(authority.key.secretRef.name);
    } else return 'key authority names no key';
    const hash = (authority.key.hashAlgorithm ?? 'sha256') as HashAlgorithm;
    // Upstream skips Rekor for keys unless the authority names a ctlog; then it is required.
    const logTrust = authority.ctlog ? (authority.ctlog.trustRootRef ? await env.trustRoot(authority.ctlog.trustRootRef) : env.defaultTrust()) : undefined;
    return { kind: 'key', keys, hash, ...(logTrust ? { logTrust } : {}) };
  }
  if (authority.keyless) return keylessVerifier(authority.keyless, authority, env);
  return 'authority has no key, keyless or static';
}

async function keylessVerifier(keyless: KeylessRef, authority: Authority, env: AuthorityEnv): Promise<AuthorityVerifier | string> {
  // policy-controller never verifies against ca-cert either (see docs/verification.md).
  if (keyless['ca-cert']) return 'keyless ca-cert is not supported (policy-controller does not verify against it either); use a TrustRoot and trustRootRef';
  const ctlogRoot = authority.ctlog?.trustRootRef;
  if (ctlogRoot && ctlogRoot !== keyless.trustRootRef) return 'a ctlog trustRootRef other than the keyless trustRootRef is not supported yet';
  const tsaRoot = authority.rfc3161timestamp?.trustRootRef;
  if (authority.rfc3161timestamp && tsaRoot !== keyless.trustRootRef) {
    return 'an rfc3161timestamp trustRootRef other than the keyless trustRootRef is not supported yet';
  }
  const identities = keyless.identities ?? [];
  if (identities.length === 0) return 'keyless authority lists no identities';
  const trust = keyless.trustRootRef ? await env.trustRoot(keyless.trustRootRef) : env.defaultTrust();
  // Upstream's rules: with rfc3161timestamp a signed timestamp from the root's TSA is
  // required and the log is not consulted; otherwise Rekor is required (offline, against
  // the root's log keys) unless a trustRootRef is given without ctlog, and a log entry
  // that is present must verify. The certificate must be valid at a verified time
  // (src/verify/sigstore/verify.ts narrows the evidence as cosign reads it).
  const requirements = {
    requireTlog: !authority.rfc3161timestamp && (!keyless.trustRootRef || authority.ctlog !== undefined),
    requireSct: keyless.insecureIgnoreSCT !== true,
    requireTimestamp: authority.rfc3161timestamp !== undefined,
  };
  return { kind: 'keyless', trust, requirements, identities };
}

function matchedIdentity(identities: KeylessRef['identities'], actual: CertificateIdentity): Outcome {
  const subject = matchedSubject(identities, actual);
  if (subject === undefined) return { failure: `none of the expected identities matched what was in the certificate, got ${describeIdentity(actual)}` };
  return { identity: { issuer: actual.issuer, subject } };
}

function signatureCheck(v: AuthorityVerifier, authority: Authority, env: AuthorityEnv): SignatureCheck {
  if (v.kind === 'key') {
    return {
      legacy: (sig) => {
        const key = findSigningKey(sig, v.keys, v.hash);
        if (!key) return { failure: "signature does not verify with the authority's key" };
        if (v.logTrust) {
          try {
            verifyKeySignatureInLog(sig, key, v.hash, v.logTrust);
          } catch (err) {
            return { failure: reasonOf(err) };
          }
        }
        return { identity: { key: key.id } };
      },
      bundle: (b) => {
        try {
          const key = verifyKeyImageBundle(b.json, env.imageDigest, v.keys, v.hash, v.logTrust);
          return { identity: { key: key.id } };
        } catch (err) {
          return { failure: reasonOf(err) };
        }
      },
      format: evidenceFormat(authority),
    };
  }
  return {
    legacy: (sig) => {
      if (!sig.certificatePem) return { failure: 'not a keyless signature (no certificate)' };
      try {
        return matchedIdentity(v.identities, verifyKeylessSignature(sig, v.trust, v.requirements));
      } catch (err) {
        return { failure: reasonOf(err) };
      }
    },
    bundle: (b) => {
      try {
        return matchedIdentity(v.identities, verifyImageBundle(b.json, env.imageDigest, v.trust, v.requirements));
      } catch (err) {
        return { failure: reasonOf(err) };
      }
    },
    format: evidenceFormat(authority),
  };
}

function attestationCheck(v: AuthorityVerifier, authority: Authority, _env: AuthorityEnv): AttestationCheck | string {
  const format = evidenceFormat(authority);
  const guard = (fn: () => EnvelopeOutcome): EnvelopeOutcome => {
    try {
      return fn();
    } catch (err) {
      return { failure: reasonOf(err) };
    }
  };
  if (v.kind === 'key') {
    // DSSE signatures are verified over SHA-256 (Ed25519 over the message), as cosign attests by default.
    if (v.hash !== 'sha256' && v.keys.some((k) => k.key.asymmetricKeyType !== 'ed25519')) {
      return `hashAlgorithm ${v.hash} is not supported for attestations (DSSE envelopes are checked with sha256)`;
    }
    return {
      legacy: (att) =>
        guard(() => {
          const key = verifyLegacyAttestationWithKeys(att, v.keys, v.logTrust);
          return { identity: { key: key.id }, envelope: att.envelope };
        }),
      bundle: (b) =>
        guard(() => {
          const r = verifyAttestationBundle(b.json, { keys: v.keys, ...(v.logTrust ? { logTrust: v.logTrust } : {}) });
          return { identity: { key: 'key' in r.signer ? r.signer.key.id : '' }, envelope: r.envelope };
        }),
      format,
    };
  }
  const withIdentity = (actual: CertificateIdentity, envelope: DsseEnvelope): EnvelopeOutcome => {
    const m = matchedIdentity(v.identities, actual);
    return 'failure' in m ? m : { identity: m.identity, envelope };
  };
  return {
    legacy: (att) => guard(() => withIdentity(verifyLegacyAttestationKeyless(att, v.trust, v.requirements), att.envelope)),
    bundle: (b) =>
      guard(() => {
        const r = verifyAttestationBundle(b.json, { trust: v.trust, req: v.requirements });
        if (!('identity' in r.signer)) return { failure: 'bundle is not keyless' };
        return withIdentity(r.signer.identity, r.envelope);
      }),
    format,
  };
}

/**
 * An authority with attestations passes only when every attestation it
 * lists is satisfied by at least one envelope that verifies for the
 * authority, names this image among its subjects, has the wanted predicate
 * type and passes the attestation's policy.
 */
async function checkAuthorityAttestations(
  authority: Authority,
  env: AuthorityEnv,
  check: AttestationCheck,
): Promise<AttestationAuthorityResult | AuthorityResult> {
  const name = authority.name;
  if (!env.attestations) return { name, verdict: 'fail', reason: 'attestations are not read here (no attestation lookup configured)', signatures: [] };
  const { legacy, referrers } = await gatherAttestations(authority, { attestations: env.attestations, bundles: env.bundles }, check.format);
  const failures = [...legacy.problems, ...referrers.problems];
  const verified: VerifiedAttestation[] = [];
  const accept = (digest: string, outcome: EnvelopeOutcome) => {
    if ('failure' in outcome) {
      failures.push(`${digest}: ${outcome.failure}`);
      return;
    }
    const statement = parseStatement(outcome.envelope.payload);
    if ('error' in statement) {
      failures.push(`${digest}: ${statement.error}`);
      return;
    }
    if (!namesDigest(statement, env.imageDigest)) {
      failures.push(`${digest}: statement is for ${subjectDigests(statement).join(', ') || 'no digest'}, not this image (${env.imageDigest})`);
      return;
    }
    verified.push({ digest, identity: outcome.identity, statement });
  };
  for (const att of legacy.attestations) accept(att.digest, check.legacy(att));
  for (const b of referrers.bundles) accept(b.digest, check.bundle(b));
  if (verified.length === 0) {
    const found = legacy.attestations.length + referrers.bundles.length;
    const reason = found === 0 && failures.length === 0 ? `no matching attestations for authority ${name}` : `no valid attestations: ${failures.join('; ')}`;
    return { name, verdict: 'fail', reason, signatures: [], attestations: [] };
  }
  const results = await checkAttestations(authority.attestations ?? [], verified, env.policy ?? defaultPolicyEvaluator());
  const failed = results.filter((r) => r.verdict === 'fail');
  const signatures = uniqueByDigest(results.flatMap((r) => r.matches.map((m) => ({ digest: m.digest, identity: m.identity }))));
  if (failed.length === 0) {
    return { name, verdict: 'pass', reason: `attestations passed: ${results.map((r) => r.name).join(', ')}`, signatures, attestations: results };
  }
  const reason = failed.map((r) => `attestation ${r.name}: ${r.reason}`).join('; ');
  const ignored = failures.length > 0 ? `; other attestations not used: ${failures.join('; ')}` : '';
  return { name, verdict: 'fail', reason: `${reason}${ignored}`, signatures: [], attestations: results };
}

/**
 * `no signatures found in host/repo (looked for tag sha256-….sig and for bundles among the referrers of sha256:…)`:
 * where the evidence was looked for, the place named once when both lookups were in one repository.
 */
function noneFound(what: string, searched: (string | undefined)[]): string {
  const parts = searched
    .filter((s): s is string => s !== undefined)
    .map((s) => {
      const at = s.lastIndexOf(' in ');
      return { what: s.startsWith('tag ') ? `for ${s.slice(0, at)}` : `for bundles among ${s.slice(0, at)}`, where: s.slice(at + 4) };
    });
  if (parts.length === 0) return `no ${what} found`;
  const where = new Set(parts.map((p) => p.where));
  if (where.size === 1) return `no ${what} found in ${parts[0]!.where} (looked ${parts.map((p) => p.what).join(' and ')})`;
  return `no ${what} found (looked ${parts.map((p) => `${p.what} in ${p.where}`).join(' and ')})`;
}

function uniqueByDigest(list: VerifiedSignature[]): VerifiedSignature[] {
  const seen = new Set<string>();
  return list.filter((s) => !seen.has(s.digest) && seen.add(s.digest));
}

/** Legacy evidence and referrer bundles as the authority's format reads them, with the cosign v3 rule applied. */
async function gather<L>(
  kind: 'signature' | 'attestation',
  format: EvidenceFormat,
  readLegacy: () => Promise<{ items: L[]; problems: string[]; searched?: string }>,
  readBundles: () => Promise<BundleLookup>,
): Promise<{ legacy: { items: L[]; problems: string[]; searched?: string }; referrers: BundleLookup }> {
  const none: { items: L[]; problems: string[]; searched?: string } = { items: [], problems: [] };
  const [legacy, found] = await Promise.all([
    format === 'bundle' ? none : readLegacy(),
    format === 'legacy' ? ({ bundles: [], problems: [] } as BundleLookup) : readBundles(),
  ]);
  const problems = [...found.problems];
  const bundles = found.bundles.filter((b) => {
    const old = bundleVersionProblem(b);
    if (old) problems.push(`${b.digest}: ${old}`);
    return !old;
  });
  const referrers: BundleLookup = { bundles, problems, ...(found.searched !== undefined ? { searched: found.searched } : {}) };
  if (format === 'both' && legacy.items.length > 0 && hasBundlesOfKind(bundles, kind)) {
    return { legacy: none, referrers: { bundles, problems: [...problems, `${legacy.items.length} legacy: ${legacyIgnored(kind)}`] } };
  }
  return { legacy, referrers };
}

async function gatherAttestations(
  authority: Authority,
  read: { attestations: NonNullable<AuthorityEnv['attestations']>; bundles: AuthorityEnv['bundles'] },
  format: EvidenceFormat,
) {
  const source = effectiveSource(authority);
  const { legacy, referrers } = await gather(
    'attestation',
    format,
    async () => {
      const r = await read.attestations(source);
      return { items: r.attestations, problems: r.problems };
    },
    () => read.bundles(source),
  );
  return { legacy: { attestations: legacy.items, problems: legacy.problems }, referrers };
}

async function checkSignatures(authority: Authority, env: AuthorityEnv, check: SignatureCheck): Promise<AuthorityResult> {
  const source = effectiveSource(authority);
  const { legacy: gathered, referrers } = await gather(
    'signature',
    check.format,
    async () => {
      const r = await env.signatures(source);
      return { items: r.signatures, problems: r.problems, searched: r.searched };
    },
    () => env.bundles(source),
  );
  const legacy = { signatures: gathered.items, problems: gathered.problems, searched: gathered.searched };
  const verified: VerifiedSignature[] = [];
  const failures = [...legacy.problems, ...referrers.problems];
  for (const sig of legacy.signatures) {
    // Authenticate the payload before believing anything it says.
    const outcome = check.legacy(sig);
    if ('failure' in outcome) {
      failures.push(`${sig.digest}: ${outcome.failure}`);
      continue;
    }
    let signed: string;
    try {
      signed = signedDigest(sig.payload);
    } catch (err) {
      if (!(err instanceof VerificationError)) throw err;
      failures.push(`${sig.digest}: ${err.message}`);
      continue;
    }
    if (signed !== env.imageDigest) {
      failures.push(`${sig.digest}: signs ${signed}, not this image`);
      continue;
    }
    verified.push({ digest: sig.digest, identity: outcome.identity });
  }
  for (const b of referrers.bundles) {
    const outcome = check.bundle(b);
    if ('failure' in outcome) failures.push(`${b.digest}: ${outcome.failure}`);
    else verified.push({ digest: b.digest, identity: outcome.identity });
  }
  const name = authority.name;
  const found = legacy.signatures.length + referrers.bundles.length;
  if (verified.length > 0) return { name, verdict: 'pass', reason: `${verified.length} valid signature(s)`, signatures: verified };
  if (found === 0 && failures.length === 0)
    return {
      name,
      verdict: 'fail',
      reason: noneFound('signatures', [check.format === 'bundle' ? undefined : legacy.searched, check.format === 'legacy' ? undefined : referrers.searched]),
      signatures: [],
    };
  return { name, verdict: 'fail', reason: `no valid signatures: ${failures.join('; ')}`, signatures: [] };
}
