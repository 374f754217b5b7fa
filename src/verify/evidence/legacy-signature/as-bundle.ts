import { createHash } from 'node:crypto';
import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { pem, X509Certificate } from '@sigstore/core';
import { isObject } from '../../../json.ts';
import type { CosignSignature } from './types.ts';
import { VerificationError } from '../../errors.ts';

/**
 * A cosign legacy signature (certificate, chain and Rekor bundle annotations)
 * as the sigstore bundle it is equivalent to, so that `@sigstore/verify` does
 * all the cryptography: certificate chain, SCTs, the Rekor signed entry
 * timestamp and the entry's body against the signature.
 */
export function legacySignatureBundle(sig: CosignSignature, key?: { hint: string; hash: 'sha256' | 'sha384' | 'sha512' }): Bundle {
  const json = {
    // v0.1 is the bundle version whose Rekor evidence is a signed entry timestamp alone.
    mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
    verificationMaterial: {
      // A key-made signature names its key by hint; a keyless one carries its certificates.
      ...(key ? { publicKey: { hint: key.hint } } : { x509CertificateChain: certificateChain(sig) }),
      tlogEntries: sig.rekorBundle === undefined ? [] : [rekorEntry(sig.rekorBundle)],
      timestampVerificationData: { rfc3161Timestamps: rfc3161(sig.rfc3161Timestamp) },
    },
    messageSignature: {
      messageDigest: {
        algorithm: `SHA2_${(key?.hash ?? 'sha256').slice(3)}`,
        digest: createHash(key?.hash ?? 'sha256')
          .update(sig.payload)
          .digest('base64'),
      },
      signature: sig.signature.toString('base64'),
    },
  };
  return bundleFromJSON(json);
}

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
  // The verifier reads only the leaf; cosign refuses an unparseable chain, and so do we.
  certificates.forEach((der, i) => {
    try {
      X509Certificate.parse(Buffer.from(der));
    } catch {
      throw new VerificationError(
        'EVIDENCE_MALFORMED',
        i === 0 ? 'certificate annotation holds an invalid X.509 certificate' : `chain annotation: certificate ${i} is not a valid X.509 certificate`,
      );
    }
  });
  return { certificates: certificates.map((der) => ({ rawBytes: der.toString('base64') })) };
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
  let entry: { kind?: unknown; apiVersion?: unknown } | null;
  try {
    entry = JSON.parse(Buffer.from(body, 'base64').toString('utf8')) as typeof entry;
  } catch {
    throw new VerificationError('EVIDENCE_MALFORMED', 'Rekor bundle Payload.body is not base64 of a JSON entry');
  }
  if (!isObject(entry)) throw new VerificationError('EVIDENCE_MALFORMED', 'Rekor entry body has no kind/apiVersion');
  if (typeof entry.kind !== 'string' || typeof entry.apiVersion !== 'string')
    throw new VerificationError('EVIDENCE_MALFORMED', 'Rekor entry body has no kind/apiVersion');
  return {
    logIndex: String(logIndex),
    logId: { keyId: Buffer.from(logID, 'hex').toString('base64') },
    kindVersion: { kind: entry.kind, version: entry.apiVersion },
    integratedTime: String(integratedTime),
    inclusionPromise: { signedEntryTimestamp: bundle.SignedEntryTimestamp },
    canonicalizedBody: body,
  };
}

function rfc3161(annotation: unknown): { signedTimestamp: string }[] {
  if (annotation === undefined) return [];
  if (!isObject(annotation) || typeof annotation.SignedRFC3161Timestamp !== 'string') {
    throw new VerificationError('EVIDENCE_MALFORMED', 'RFC 3161 timestamp annotation lacks SignedRFC3161Timestamp');
  }
  return [{ signedTimestamp: annotation.SignedRFC3161Timestamp }];
}
