import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { toSignedEntity, Verifier, type TrustMaterial } from '@sigstore/verify';
import type { CertificateIdentity } from '../../sigstore/certificate-identity.ts';
import { parseCertificate, type ParsedCertificate } from '../../sigstore/certificates.ts';
import { legacySignatureBundle } from '../legacy-signature/as-bundle.ts';
import { assertRekorEntryNamesSigner } from '../../sigstore/entry-signer.ts';
import type { DsseEnvelope, LegacyAttestation } from './fetch.ts';
import { verifyKeyDsseBundle, verifyKeylessEvidence, type KeylessRequirements } from '../../sigstore/verify.ts';
import type { PublicKey } from '../../../trust/keys.ts';
import { IN_TOTO_PAYLOAD_TYPE } from './statement.ts';
import { VerificationError, withSigstoreCodes } from '../../errors.ts';
import { SigwatchError } from '../../../errors.ts';

/**
 * DSSE envelopes (cosign `.att` layers and sigstore bundles) verified by
 * `@sigstore/verify`: a legacy attestation becomes the sigstore bundle it is
 * equivalent to (its annotations give the certificate chain and Rekor entry),
 * so the signature over the DSSE pre-authentication encoding, the chain, the
 * SCT and the log entry are all checked by the same code as signatures.
 */

const NO_TRUST: TrustMaterial = {
  certificateAuthorities: [],
  timestampAuthorities: [],
  tlogs: [],
  ctlogs: [],
  publicKey: () => {
    // Only reached by a bug: every key path puts its key in the trust material.
    throw new SigwatchError('INTERNAL', 'no public key in the trust material');
  },
};

/** The bundle for one signature of a legacy attestation (DSSE verifies any one signature, like cosign's envelope verifier). */
function legacyBundle(att: LegacyAttestation, signature: { keyid: string; sig: Buffer }, opts: { key?: PublicKey; withLog: boolean }): Bundle {
  const base = legacySignatureBundle(
    {
      digest: att.digest,
      payload: att.envelope.payload,
      signature: signature.sig,
      certificatePem: opts.key ? undefined : att.certificatePem,
      chainPem: opts.key ? undefined : att.chainPem,
      rekorBundle: opts.withLog ? att.rekorBundle : undefined,
      // A key reads no observer timestamps, as cosign (`WithNoObserverTimestamps`).
      rfc3161Timestamp: opts.key ? undefined : att.rfc3161Timestamp,
      source: att.source,
    },
    opts.key ? { hint: opts.key.id, hash: 'sha256' } : undefined,
  );
  return {
    ...base,
    content: {
      $case: 'dsseEnvelope',
      dsseEnvelope: { payload: att.envelope.payload, payloadType: att.envelope.payloadType, signatures: [{ sig: signature.sig, keyid: signature.keyid }] },
    },
  };
}

function runVerifier(trust: TrustMaterial, bundle: Bundle, thresholds: { tlog: number; ctlog: number; timestamp: number }): void {
  const verifier = new Verifier(trust, { tlogThreshold: thresholds.tlog, ctlogThreshold: thresholds.ctlog, timestampThreshold: thresholds.timestamp });
  withSigstoreCodes(() => verifier.verify(toSignedEntity(bundle)));
}

function requireInToto(envelope: { payloadType: string }): void {
  // cosign's verifyOCIAttestation refuses any other payload type.
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new VerificationError('SUBJECT_MISMATCH', `invalid payloadType ${envelope.payloadType} on envelope. Expected ${IN_TOTO_PAYLOAD_TYPE}`);
  }
}

function withKey(trust: TrustMaterial | undefined, key: PublicKey): TrustMaterial {
  return { ...(trust ?? NO_TRUST), publicKey: () => ({ publicKey: key.key, validFor: () => true }) };
}

/**
 * A legacy attestation signed with one of `keys` (ECDSA/RSA over SHA-256, or
 * Ed25519). `logTrust`: the authority names a ctlog, so the attestation's
 * Rekor entry is required and checked; without it the log is not consulted,
 * as upstream. Returns the key that verified; throws with the reason.
 */
export function verifyLegacyAttestationWithKeys(att: LegacyAttestation, keys: PublicKey[], logTrust?: TrustMaterial): PublicKey {
  requireInToto(att.envelope);
  if (logTrust && att.rekorBundle === undefined)
    throw new VerificationError('TLOG', 'no Rekor bundle annotation, and the authority requires the transparency log');
  let lastError: unknown;
  for (const key of keys) {
    for (const signature of att.envelope.signatures) {
      try {
        const bundle = legacyBundle(att, signature, { key, withLog: logTrust !== undefined });
        runVerifier(withKey(logTrust, key), bundle, { tlog: logTrust ? 1 : 0, ctlog: 0, timestamp: logTrust ? 1 : 0 });
        if (logTrust) assertRekorEntryNamesSigner(bundle, key.key, 'cosign');
        return key;
      } catch (err) {
        lastError = err;
      }
    }
  }
  throw plainKeyMismatch(lastError) ?? new VerificationError('NO_EVIDENCE', 'envelope has no signatures');
}

/** A keyless legacy attestation: Fulcio chain, SCT, Rekor entry as `req` asks. Returns whom the certificate names. */
export function verifyLegacyAttestationKeyless(att: LegacyAttestation, trust: TrustMaterial, req: KeylessRequirements): CertificateIdentity {
  requireInToto(att.envelope);
  if (!att.certificatePem) throw new VerificationError('NO_EVIDENCE', 'not a keyless attestation (no certificate)');
  if (req.requireTimestamp && att.rfc3161Timestamp === undefined)
    throw new VerificationError('TIMESTAMP', 'no RFC 3161 timestamp annotation, and the authority requires one');
  if (req.requireTlog && att.rekorBundle === undefined)
    throw new VerificationError('TLOG', 'no Rekor bundle annotation, and the authority requires the transparency log');
  let lastError: unknown;
  for (const signature of att.envelope.signatures) {
    try {
      const bundle = legacyBundle(att, signature, { withLog: true });
      // As for signatures: cosign's comparePublicKey on the entry, where it is read.
      verifyKeylessEvidence(bundle, trust, req, 'cosign');
      return leafCertificate(bundle).identity;
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError ?? new VerificationError('NO_EVIDENCE', 'envelope has no signatures');
}

export interface VerifiedBundle {
  envelope: DsseEnvelope;
  /** Whom the certificate names (keyless), or the key that verified. */
  signer: { identity: CertificateIdentity } | { key: PublicKey };
}

/**
 * A sigstore bundle holding a DSSE envelope, verified with keys (a
 * `publicKey` bundle) or keyless (a certificate bundle) as the authority says.
 */
export function verifyAttestationBundle(
  json: unknown,
  how: { keys: PublicKey[]; logTrust?: TrustMaterial } | { trust: TrustMaterial; req: KeylessRequirements },
): VerifiedBundle {
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(json);
  } catch (err) {
    throw new VerificationError('EVIDENCE_MALFORMED', `not a valid sigstore bundle: ${(err as Error).message}`, { cause: err });
  }
  if (bundle.content.$case !== 'dsseEnvelope')
    throw new VerificationError('SUBJECT_MISMATCH', 'not an attestation (the bundle holds a message signature, not a DSSE envelope)');
  const dsse = bundle.content.dsseEnvelope;
  const envelope: DsseEnvelope = {
    payloadType: dsse.payloadType,
    payload: Buffer.from(dsse.payload),
    signatures: dsse.signatures.map((s) => ({ keyid: s.keyid, sig: Buffer.from(s.sig) })),
  };
  if ('keys' in how) {
    if (bundle.verificationMaterial.content.$case !== 'publicKey')
      throw new VerificationError('NO_EVIDENCE', 'bundle is not signed with a key (it carries a certificate)');
    let lastError: unknown;
    for (const key of how.keys) {
      try {
        // Without a ctlog the authority does not consult the log, as upstream.
        verifyKeyDsseBundle(bundle, key, 'sha256', how.logTrust);
        requireInToto(envelope);
        return { envelope, signer: { key } };
      } catch (err) {
        lastError = err;
      }
    }
    throw plainKeyMismatch(lastError) ?? new SigwatchError('CONFIG', 'authority has no keys');
  }
  if (how.req.requireTimestamp && !bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps.length) {
    throw new VerificationError('TIMESTAMP', 'no RFC 3161 timestamp in the bundle, and the authority requires one');
  }
  const leaf = leafCertificate(bundle);
  verifyKeylessEvidence(bundle, how.trust, how.req, 'sigstore-go');
  requireInToto(envelope);
  return { envelope, signer: { identity: leaf.identity } };
}

/** A signature by another key is the common case: say so rather than echo the library's crypto error. */
function plainKeyMismatch(err: unknown): unknown {
  if (err instanceof VerificationError && err.sigstoreCode === 'SIGNATURE_ERROR') {
    return new VerificationError('SIGNATURE_INVALID', "envelope signature does not verify with the authority's key", { cause: err });
  }
  return err;
}

function leafCertificate(bundle: Bundle): ParsedCertificate {
  const m = bundle.verificationMaterial.content;
  const raw =
    m.$case === 'certificate' ? m.certificate.rawBytes : m.$case === 'x509CertificateChain' ? m.x509CertificateChain.certificates[0]?.rawBytes : undefined;
  if (!raw) throw new VerificationError('NO_EVIDENCE', 'bundle has no certificate (not a keyless signature)');
  return parseCertificate(raw);
}
