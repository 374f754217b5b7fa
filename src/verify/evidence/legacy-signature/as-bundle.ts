import { createHash } from 'node:crypto';
import { assertBundleV01, BUNDLE_V01_MEDIA_TYPE, type Bundle } from '@sigstore/bundle';
import { pem } from '@sigstore/core';
import { HashAlgorithm } from '@sigstore/protobuf-specs';
import { parseCertificate } from '../../sigstore/certificates.ts';
import { isObject } from '../../../json.ts';
import type { CosignSignature } from './types.ts';
import { VerificationError } from '../../errors.ts';

/**
 * A cosign legacy signature (certificate, chain and Rekor bundle annotations)
 * as the sigstore bundle it is equivalent to, so that `@sigstore/verify` does
 * all the cryptography: certificate chain, SCTs, the Rekor signed entry
 * timestamp and the entry's body against the signature. What it leaves out,
 * cosign's `comparePublicKey`, is `assertRekorEntryNamesSigner` with the
 * cosign rules (sigstore/entry-signer.ts).
 */
export function legacySignatureBundle(sig: CosignSignature, key?: { hint: string; hash: 'sha256' | 'sha384' | 'sha512' }): Bundle {
  const hash = key?.hash ?? 'sha256';
  // Built as the protobuf object itself, not as its JSON form read back: no base64 round trip per signature.
  const bundle: Bundle = {
    // v0.1 is the bundle version whose Rekor evidence is a signed entry timestamp alone.
    mediaType: BUNDLE_V01_MEDIA_TYPE,
    verificationMaterial: {
      // A key-made signature names its key by hint; a keyless one carries its certificates.
      content: key ? { $case: 'publicKey', publicKey: { hint: key.hint } } : { $case: 'x509CertificateChain', x509CertificateChain: certificateChain(sig) },
      tlogEntries: sig.rekorBundle === undefined ? [] : [rekorEntry(sig.rekorBundle)],
      timestampVerificationData: { rfc3161Timestamps: rfc3161(sig.rfc3161Timestamp) },
    },
    content: {
      $case: 'messageSignature',
      messageSignature: {
        messageDigest: { algorithm: HASH_ALGORITHMS[hash], digest: createHash(hash).update(sig.payload).digest() },
        signature: sig.signature,
      },
    },
  };
  // The structural checks bundleFromJSON makes of a v0.1 bundle (the Rekor entry's promise, the signature present...).
  assertBundleV01(bundle);
  return bundle;
}

const HASH_ALGORITHMS = { sha256: HashAlgorithm.SHA2_256, sha384: HashAlgorithm.SHA2_384, sha512: HashAlgorithm.SHA2_512 } as const;

/** Fulcio's chain is two certificates; ten leaves room for private CAs and bounds the work of a hostile annotation. */
const MAX_CHAIN_CERTIFICATES = 10;

function certificateChain(sig: CosignSignature) {
  if (!sig.certificatePem) throw new VerificationError('NO_EVIDENCE', 'no certificate annotation (not a keyless signature)');
  const certificates = [...pemBlocks(sig.certificatePem), ...(sig.chainPem ? pemBlocks(sig.chainPem) : [])];
  if (certificates.length > MAX_CHAIN_CERTIFICATES + 1) {
    throw new VerificationError(
      'EVIDENCE_MALFORMED',
      `certificate chain of ${certificates.length - 1} certificates is longer than the ${MAX_CHAIN_CERTIFICATES} sigwatch accepts`,
    );
  }
  // The verifier reads only the leaf; cosign refuses an unparseable chain, and so do we (each parsed once per process).
  certificates.forEach((der, i) => {
    try {
      parseCertificate(der);
    } catch {
      throw new VerificationError(
        'EVIDENCE_MALFORMED',
        i === 0 ? 'certificate annotation holds an invalid X.509 certificate' : `chain annotation: certificate ${i} is not a valid X.509 certificate`,
      );
    }
  });
  return { certificates: certificates.map((der) => ({ rawBytes: der })) };
}

function pemBlocks(text: string): Buffer[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new VerificationError('EVIDENCE_MALFORMED', 'certificate annotation holds no PEM certificate');
  return blocks.map((b) => pem.toDER(b));
}

/** cosign's `{SignedEntryTimestamp, Payload: {body, integratedTime, logIndex, logID}}`. */
function rekorEntry(bundle: unknown) {
  const payload = isObject(bundle) ? bundle.Payload : undefined;
  if (!isObject(bundle) || !isObject(payload) || typeof bundle.SignedEntryTimestamp !== 'string') {
    throw new VerificationError('EVIDENCE_MALFORMED', 'Rekor bundle annotation lacks SignedEntryTimestamp or Payload');
  }
  const { body, integratedTime, logIndex, logID } = payload;
  if (typeof body !== 'string' || typeof integratedTime !== 'number' || typeof logIndex !== 'number' || typeof logID !== 'string') {
    throw new VerificationError('EVIDENCE_MALFORMED', 'Rekor bundle Payload needs body, integratedTime, logIndex and logID');
  }
  const canonicalizedBody = Buffer.from(body, 'base64');
  let entry: { kind?: unknown; apiVersion?: unknown } | null;
  try {
    entry = JSON.parse(canonicalizedBody.toString('utf8')) as typeof entry;
  } catch {
    throw new VerificationError('EVIDENCE_MALFORMED', 'Rekor bundle Payload.body is not base64 of a JSON entry');
  }
  if (!isObject(entry)) throw new VerificationError('EVIDENCE_MALFORMED', 'Rekor entry body has no kind/apiVersion');
  if (typeof entry.kind !== 'string' || typeof entry.apiVersion !== 'string')
    throw new VerificationError('EVIDENCE_MALFORMED', 'Rekor entry body has no kind/apiVersion');
  return {
    logIndex: String(logIndex),
    logId: { keyId: Buffer.from(logID, 'hex') },
    kindVersion: { kind: entry.kind, version: entry.apiVersion },
    integratedTime: String(integratedTime),
    inclusionPromise: { signedEntryTimestamp: Buffer.from(bundle.SignedEntryTimestamp, 'base64') },
    inclusionProof: undefined,
    canonicalizedBody,
  };
}

function rfc3161(annotation: unknown): { signedTimestamp: Buffer }[] {
  if (annotation === undefined) return [];
  if (!isObject(annotation) || typeof annotation.SignedRFC3161Timestamp !== 'string') {
    throw new VerificationError('EVIDENCE_MALFORMED', 'RFC 3161 timestamp annotation lacks SignedRFC3161Timestamp');
  }
  return [{ signedTimestamp: Buffer.from(annotation.SignedRFC3161Timestamp, 'base64') }];
}
