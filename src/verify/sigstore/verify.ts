import { verify as verifySignatureBytes, type KeyObject } from 'node:crypto';
import type { Bundle } from '@sigstore/bundle';
import { dsse } from '@sigstore/core';
import { toSignedEntity, Verifier, type SignedEntity, type TrustMaterial } from '@sigstore/verify';
import { parseCertificate, verifyCertificateAt, type ParsedCertificate } from './certificates.ts';
import type { PublicKey } from '../../trust/keys.ts';
import type { HashAlgorithm } from '../../policy/types.ts';
import { fromSigstore, VerificationError } from '../errors.ts';
import { assertRekorEntryNamesSigner, type EntrySignerRules } from './entry-signer.ts';

/**
 * What an authority demands of keyless evidence, in cosign's terms (its
 * `CheckOpts` → sigstore-go verifier options):
 * - `requireTlog`: `WithTransparencyLog(1)` and `WithIntegratedTimestamps(1)`;
 *   RFC 3161 timestamps are then not examined at all.
 * - `requireTimestamp` (`rfc3161timestamp`): `WithSignedTimestamps(1)` with the
 *   log ignored: at least one timestamp from the root's TSAs; the others are ignored.
 * - `requireSct: false` (`insecureIgnoreSCT`): embedded SCTs are not looked at.
 */
export interface KeylessRequirements {
  /** A Rekor entry, checked against the trust root's log keys, must vouch for the signature. */
  requireTlog: boolean;
  /** The certificate must carry an SCT from a trusted CT log (off with `insecureIgnoreSCT`). */
  requireSct: boolean;
  /** An RFC 3161 timestamp from the trust root's TSA must date the signature. */
  requireTimestamp?: boolean;
}

/** Timestamps one bundle may carry before it is refused (sigstore-go's `MaxAllowedTimestamps`). */
const MAX_RFC3161_TIMESTAMPS = 32;

/**
 * Verifies keyless evidence (a bundle, or a legacy signature as the bundle it
 * is equivalent to, with `data` its signed payload) as cosign would. Throws
 * with the reason it does not verify.
 *
 * `@sigstore/verify` counts every timestamp it is given and refuses any it
 * cannot verify, where sigstore-go only looks at the kinds it was asked for and
 * ignores timestamps it cannot verify. So the bundle is narrowed first to the
 * evidence cosign would read: with a log entry required or present, no RFC
 * 3161 timestamps (the integrated time dates the certificate); with a signed
 * timestamp required, no log entries and one candidate per timestamp, the
 * first that verifies being enough.
 *
 * Once a candidate verified, the log entries it kept must name the bundle's
 * certificate, by `rules`: cosign's for a legacy signature, sigstore-go's for
 * a bundle (see entry-signer.ts). Where a timestamp is required the entries
 * were dropped, unread, and there is nothing to compare, as cosign ignores the log there.
 */
export function verifyKeylessEvidence(bundle: Bundle, trust: TrustMaterial, req: KeylessRequirements, rules: EntrySignerRules, data?: Buffer): void {
  const timestamps = bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps ?? [];
  if (timestamps.length > MAX_RFC3161_TIMESTAMPS)
    throw new VerificationError('TIMESTAMP', `${timestamps.length} RFC 3161 timestamps, more than the ${MAX_RFC3161_TIMESTAMPS} accepted`);
  if (req.requireTimestamp && timestamps.length === 0)
    throw new VerificationError('TIMESTAMP', 'no RFC 3161 timestamp in the bundle, and the authority requires one');
  const logged = bundle.verificationMaterial.tlogEntries.length > 0;
  let candidates: Bundle[];
  if (req.requireTimestamp) candidates = timestamps.map((t) => narrowed(bundle, { tlog: false, timestamps: [t] }));
  else if (logged || req.requireTlog || timestamps.length === 0) candidates = [narrowed(bundle, { tlog: true, timestamps: [] })];
  // No log entry where none is required: only a timestamp from the root's TSAs can date the certificate.
  else candidates = timestamps.map((t) => narrowed(bundle, { tlog: true, timestamps: [t] }));
  let first: unknown;
  for (const candidate of candidates) {
    try {
      verifyCandidate(candidate, trust, { tlog: req.requireTlog && !req.requireTimestamp, sct: req.requireSct }, data);
    } catch (err) {
      first ??= err;
      continue;
    }
    assertRekorEntryNamesSigner(candidate, undefined, rules);
    return;
  }
  throw first ?? new VerificationError('NO_EVIDENCE', 'nothing to verify');
}

type RFC3161Entry = NonNullable<Bundle['verificationMaterial']['timestampVerificationData']>['rfc3161Timestamps'][number];

function narrowed(bundle: Bundle, keep: { tlog: boolean; timestamps: RFC3161Entry[] }): Bundle {
  return {
    ...bundle,
    verificationMaterial: {
      ...bundle.verificationMaterial,
      tlogEntries: keep.tlog ? bundle.verificationMaterial.tlogEntries : [],
      timestampVerificationData: { rfc3161Timestamps: keep.timestamps },
    },
  };
}

function verifyCandidate(bundle: Bundle, trust: TrustMaterial, need: { tlog: boolean; sct: boolean }, data?: Buffer): void {
  const thresholds = { tlogThreshold: need.tlog ? 1 : 0, ctlogThreshold: need.sct ? 1 : 0, timestampThreshold: 1 };
  const leaf = signingCertificate(bundle);
  if (!leaf) {
    run(() => new Verifier(trust, thresholds).verify(toSignedEntity(bundle, data)));
    return;
  }
  // The Verifier is given the certificate's key as the signer, and checks the
  // timestamps, log entries and signature as for a certificate; where it would
  // check the certificate (after the timestamps, before the log entries, at
  // each verified time) it asks the trust material whether the key is valid
  // then, and that answer is the chain and SCT check, from the process cache
  // when this certificate already verified against this trust material at a
  // time the cached result covers. With insecureIgnoreSCT the SCTs are not
  // looked at at all (@sigstore/verify would refuse one from a log the root lacks).
  let checkedAt = 0;
  const signer: TrustMaterial = {
    ...trust,
    publicKey: () => ({
      publicKey: leaf.publicKey,
      validFor: (at: Date) => {
        // Throws @sigstore/verify's CERTIFICATE_ERROR with its reason, rather than a bare "not valid for timestamp".
        verifyCertificateAt(leaf, at, trust, need.sct);
        checkedAt++;
        return true;
      },
    }),
  };
  run(() => new Verifier(signer, { ...thresholds, ctlogThreshold: 0 }).verify(toSignedEntity(withKeyHint(bundle), data)));
  // The verifier counted at least one time; never accept a certificate checked at no time at all.
  if (checkedAt === 0)
    throw new VerificationError('TIMESTAMP', 'TIMESTAMP_ERROR: no verified time to check the certificate at', { sigstoreCode: 'TIMESTAMP_ERROR' });
}

/** The bundle's leaf certificate, parsed (once per process), or undefined for a key-signed bundle. */
function signingCertificate(bundle: Bundle): ParsedCertificate | undefined {
  const m = bundle.verificationMaterial.content;
  if (m.$case === 'publicKey') return undefined;
  const raw = m.$case === 'certificate' ? m.certificate.rawBytes : m.x509CertificateChain.certificates[0]?.rawBytes;
  if (!raw) throw new VerificationError('NO_EVIDENCE', 'bundle has no leaf certificate');
  try {
    return parseCertificate(raw);
  } catch (err) {
    throw new VerificationError('EVIDENCE_MALFORMED', "the bundle's certificate is not a valid X.509 certificate", { cause: err });
  }
}

/** The same bundle naming its signer by an (empty) key hint: the signed entity then carries no certificate to parse again. */
function withKeyHint(bundle: Bundle): Bundle {
  return { ...bundle, verificationMaterial: { ...bundle.verificationMaterial, content: { $case: 'publicKey', publicKey: { hint: '' } } } };
}

function run<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromSigstore(err);
  }
}

/**
 * A DSSE bundle signed with `key`, as `cosign verify --key` checks it: the one
 * envelope signature over the pre-authentication encoding with the
 * authority's hash (Ed25519 over the message), never choosing the key by the
 * bundle's unauthenticated `publicKey.hint`; with `logTrust` (the authority
 * names a ctlog) a Rekor entry for this signature must verify against the
 * root's log keys, else log entries and timestamps are not consulted
 * (cosign's `--insecure-ignore-tlog` with a key: `WithNoObserverTimestamps`).
 * Only bundles come here, so a log entry read must name `key` by sigstore-go's rules.
 */
export function verifyKeyDsseBundle(bundle: Bundle, key: PublicKey, hash: HashAlgorithm, logTrust?: TrustMaterial): void {
  if (bundle.content.$case !== 'dsseEnvelope') throw new VerificationError('SUBJECT_MISMATCH', 'not a DSSE bundle');
  const envelope = bundle.content.dsseEnvelope;
  // sigstore-go: a DSSE envelope in a bundle carries exactly one signature.
  if (envelope.signatures.length !== 1)
    throw new VerificationError('EVIDENCE_MALFORMED', `DSSE envelope has ${envelope.signatures.length} signatures, a sigstore bundle carries exactly one`);
  const pae = dsse.preAuthEncoding(envelope.payloadType, Buffer.from(envelope.payload));
  const algorithm = key.key.asymmetricKeyType === 'ed25519' ? null : hash;
  const signs = (publicKey: KeyObject): boolean => {
    try {
      return verifySignatureBytes(algorithm, pae, publicKey, Buffer.from(envelope.signatures[0]!.sig));
    } catch {
      // Malformed signature bytes for this key type: simply not this key.
      return false;
    }
  };
  if (!signs(key.key)) throw new VerificationError('SIGNATURE_INVALID', "envelope signature does not verify with the authority's key");
  if (!logTrust) return;
  if (bundle.verificationMaterial.tlogEntries.length === 0)
    throw new VerificationError('TLOG', 'no Rekor entry in the bundle, and the authority requires the transparency log');
  const withKey: TrustMaterial = { ...logTrust, publicKey: () => ({ publicKey: key.key, validFor: () => true }) };
  // @sigstore/verify checks the envelope with the key type's default hash (SHA-256);
  // the authority's hashAlgorithm is the one cosign verifies with, so that check is ours.
  const entity = withSignatureCheck(toSignedEntity(narrowed(bundle, { tlog: true, timestamps: [] })), signs);
  run(() => new Verifier(withKey, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 0 }).verify(entity));
  assertRekorEntryNamesSigner(bundle, key.key, 'sigstore-go');
}

/** The same signed entity, its signature checked by `verify` instead of the library's default. */
function withSignatureCheck(entity: SignedEntity, verify: (key: KeyObject) => boolean): SignedEntity {
  const content = entity.signature;
  return {
    ...entity,
    signature: {
      signature: content.signature,
      compareSignature: (signature) => content.compareSignature(signature),
      compareDigest: (digest) => content.compareDigest(digest),
      compareSignedDigest: (digest) => content.compareSignedDigest(digest),
      verifySignature: verify,
    },
  };
}
