import { verify as verifySignatureBytes, type KeyObject } from 'node:crypto';
import type { Bundle } from '@sigstore/bundle';
import { crypto as sigstoreCrypto, dsse, type X509Certificate } from '@sigstore/core';
import { toSignedEntity, Verifier, type SignedEntity, type TrustMaterial } from '@sigstore/verify';
// Not re-exported by the package: the same chain check its Verifier runs, needed alone when SCTs are ignored.
import { verifyCertificateChain } from '@sigstore/verify/dist/key/certificate.js';
import type { PublicKey } from '../../trust/keys.ts';
import type { HashAlgorithm } from '../../policy/types.ts';
import { fromSigstore, VerificationError } from '../errors.ts';

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
 */
export function verifyKeylessEvidence(bundle: Bundle, trust: TrustMaterial, req: KeylessRequirements, data?: Buffer): void {
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
      return;
    } catch (err) {
      first ??= err;
    }
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
  const entity = toSignedEntity(bundle, data);
  const thresholds = { tlogThreshold: need.tlog ? 1 : 0, ctlogThreshold: need.sct ? 1 : 0, timestampThreshold: 1 };
  if (need.sct || entity.key.$case !== 'certificate') {
    run(() => new Verifier(trust, thresholds).verify(entity));
    return;
  }
  // insecureIgnoreSCT: @sigstore/verify checks every embedded SCT whatever its
  // ctlogThreshold, and refuses one from a log the root lacks. cosign skips the
  // check entirely, so the certificate is taken apart from its SCTs: the
  // timestamps, log entries and signature are verified with the certificate's
  // key as the signer, then its chain to the root's CAs at each of those times.
  const leaf = entity.key.certificate;
  const asKey: SignedEntity = { ...entity, key: { $case: 'public-key', hint: '' } };
  const withLeafKey: TrustMaterial = { ...trust, publicKey: () => ({ publicKey: leafKey(leaf), validFor: () => true }) };
  run(() => new Verifier(withLeafKey, thresholds).verify(asKey));
  const times = entityTimes(entity);
  // The verifier counted at least one; never check a chain at no time at all (that would be "now").
  if (times.length === 0)
    throw new VerificationError('TIMESTAMP', 'TIMESTAMP_ERROR: no verified time to check the certificate at', { sigstoreCode: 'TIMESTAMP_ERROR' });
  for (const at of times) run(() => verifyCertificateChain(at, leaf, trust.certificateAuthorities));
}

function leafKey(leaf: X509Certificate) {
  return sigstoreCrypto.createPublicKey(leaf.publicKey);
}

/** The times the verifier just checked: log integrated times and TSA signing times. */
function entityTimes(entity: SignedEntity): Date[] {
  return entity.timestamps.flatMap((t) => {
    if (t.$case === 'timestamp-authority') return [t.timestamp.signingTime];
    const seconds = Number(t.tlogEntry.integratedTime);
    return seconds > 0 ? [new Date(seconds * 1000)] : [];
  });
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
