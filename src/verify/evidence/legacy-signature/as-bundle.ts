import { createHash, type KeyObject } from 'node:crypto';
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
 * cosign's `comparePublicKey`, is `assertRekorEntryNamesSigner`.
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

/**
 * cosign's `comparePublicKey`, which `@sigstore/verify` does not make: the
 * bundle's Rekor entry names the certificate the bundle carries (keyless) or
 * `key`. The log vouches for the entry and the entry for its key: an entry
 * for the same signature bytes under another certificate of the same key
 * must not lend this one its time. Called after the bundle verified, as
 * cosign compares keys after the chain and the signature.
 */
export function assertRekorEntryNamesSigner(bundle: Bundle, key?: KeyObject): void {
  const material = bundle.verificationMaterial;
  const leaf = material.content.$case === 'x509CertificateChain' ? material.content.x509CertificateChain.certificates[0]?.rawBytes : undefined;
  const signer = key ? { der: key.export({ type: 'spki', format: 'der' }), what: 'key' } : { der: leaf, what: 'certificate' };
  for (const entry of material.tlogEntries) {
    const body = JSON.parse(entry.canonicalizedBody.toString('utf8')) as Record<string, unknown>;
    const named = pemDer(entryVerifier(body));
    if (!signer.der || !named || !named.equals(signer.der)) {
      throw new VerificationError('TLOG', `the Rekor entry names another ${signer.what} than the signature's`);
    }
  }
}

/**
 * Where a Rekor entry holds its signer's key or certificate (base64 of PEM),
 * by kind and version, as cosign's `bundleKey` reads it.
 */
function entryVerifier(entry: Record<string, unknown>): unknown {
  const at = (value: unknown, ...path: string[]): unknown => path.reduce((v, k) => (isObject(v) ? v[k] : undefined), value);
  const only = (signatures: unknown): unknown => {
    if (!Array.isArray(signatures) || signatures.length !== 1) {
      throw new VerificationError('TLOG', 'Rekor entry: exactly one signature on a DSSE envelope is supported, as in cosign');
    }
    return signatures[0];
  };
  const spec = entry.spec;
  switch (`${String(entry.kind)} ${String(entry.apiVersion)}`) {
    case 'hashedrekord 0.0.1':
    case 'rekord 0.0.1':
      return at(spec, 'signature', 'publicKey', 'content');
    case 'intoto 0.0.1':
      return at(spec, 'publicKey');
    case 'intoto 0.0.2':
      return at(only(at(spec, 'content', 'envelope', 'signatures')), 'publicKey');
    case 'dsse 0.0.1':
      return at(only(at(spec, 'signatures')), 'verifier');
    default:
      throw new VerificationError('TLOG', `Rekor entry of kind ${String(entry.kind)} ${String(entry.apiVersion)} is not one cosign reads`);
  }
}

/** The DER of base64-of-PEM holding one PEM block and nothing after it (cosign refuses trailing data), or undefined. */
function pemDer(value: unknown): Buffer | undefined {
  if (typeof value !== 'string') return undefined;
  const text = Buffer.from(value, 'base64').toString('utf8');
  const block = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\s]*?)-----END \1-----[^\n]*\n?/.exec(text);
  if (!block || text.slice(block.index + block[0].length) !== '') return undefined;
  return Buffer.from(block[2]!.replace(/\s+/g, ''), 'base64');
}

function rfc3161(annotation: unknown): { signedTimestamp: Buffer }[] {
  if (annotation === undefined) return [];
  if (!isObject(annotation) || typeof annotation.SignedRFC3161Timestamp !== 'string') {
    throw new VerificationError('EVIDENCE_MALFORMED', 'RFC 3161 timestamp annotation lacks SignedRFC3161Timestamp');
  }
  return [{ signedTimestamp: Buffer.from(annotation.SignedRFC3161Timestamp, 'base64') }];
}
