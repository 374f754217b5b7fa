import { createHash, type KeyObject } from 'node:crypto';
import { EXTENSION_OID_SCT, X509Certificate, X509SCTExtension } from '@sigstore/core';
import { VerificationError as SigstoreVerificationError, type TrustMaterial } from '@sigstore/verify';
import { certificatePath, encode, publicKeyOf, spkiOf } from './certificate-chain.ts';
import { BoundedCache } from './bounded-cache.ts';
import { certificateIdentity, type CertificateIdentity } from './certificate-identity.ts';

/**
 * Certificates for the process: one cosign invocation signs many images with
 * one Fulcio certificate, and every image repeats the same intermediate, so
 * what is a pure function of a certificate's bytes (its parsed form, key and
 * identity) and of its bytes and one trust material (its verified chain and
 * SCTs) is computed once. Only successes are kept; a certificate that fails
 * is checked again every time. Both caches are bounded.
 */

// About 20 KiB each as parsed (a Fulcio certificate is 1–2 KB of DER): some 10–20 MiB at most.
const PARSED_CAPACITY = 512;
/** Per trust material: certificates whose chain verified, with the interval the result holds for. */
const CHAINS_PER_TRUST = 512;

export interface ParsedCertificate {
  /** SHA-256 of the DER bytes, hex. */
  readonly fingerprint: string;
  readonly certificate: X509Certificate;
  /** The certificate's subject public key. */
  readonly publicKey: KeyObject;
  /** Whom the certificate names, as cosign reads it. */
  readonly identity: CertificateIdentity;
}

class Parsed implements ParsedCertificate {
  private key?: KeyObject;
  private names?: CertificateIdentity;
  readonly fingerprint: string;
  readonly certificate: X509Certificate;
  constructor(fingerprint: string, certificate: X509Certificate) {
    this.fingerprint = fingerprint;
    this.certificate = certificate;
  }
  get publicKey(): KeyObject {
    return (this.key ??= publicKeyOf(this.certificate));
  }
  get identity(): CertificateIdentity {
    return (this.names ??= certificateIdentity(this.certificate));
  }
}

const parsed = new BoundedCache<string, Parsed>(PARSED_CAPACITY);

/** `der` parsed as X.509 (throws as `X509Certificate.parse` does), from the process cache when seen before. */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  const fingerprint = createHash('sha256').update(der).digest('hex');
  let entry = parsed.get(fingerprint);
  if (!entry) {
    // A copy: the parsed form keeps views into its buffer, which the caller may reuse.
    entry = new Parsed(fingerprint, X509Certificate.parse(Buffer.from(der)));
    parsed.set(fingerprint, entry);
  }
  return entry;
}

interface VerifiedChain {
  /** Leaf first, up to the trusted root, as `@sigstore/verify` builds it. */
  readonly path: X509Certificate[];
  /** The chain verifies at any time in [from, to] (ms): every certificate of the path, and the CA it ends in, is valid then. */
  readonly from: number;
  readonly to: number;
  /** Log ids of the certificate's verified SCTs, once checked against this trust material's CT logs. */
  scts?: Buffer[];
}

const chains = new WeakMap<TrustMaterial, BoundedCache<string, VerifiedChain>>();

function chainsOf(trust: TrustMaterial): BoundedCache<string, VerifiedChain> {
  let cache = chains.get(trust);
  if (!cache) {
    cache = new BoundedCache(CHAINS_PER_TRUST);
    chains.set(trust, cache);
  }
  return cache;
}

/**
 * What `@sigstore/verify`'s Verifier checks of a signing certificate, at a
 * time its evidence vouches for: the chain to one of the trust material's CAs
 * (each certificate valid at `at`, the CA valid at `at`), then, with
 * `requireSct`, the embedded SCTs against its CT logs (every SCT must verify,
 * at least one, no log twice). Throws `@sigstore/verify`'s own errors.
 *
 * A chain that verified at one time verifies at any other time every
 * certificate of its path and its CA are valid (the signatures and
 * constraints checked do not depend on time), so the result is kept per
 * trust material (by object: two roots never share a result) and
 * certificate fingerprint with that interval, and answers only inside it.
 */
export function verifyCertificateAt(leaf: ParsedCertificate, at: Date, trust: TrustMaterial, requireSct: boolean): void {
  const cache = chainsOf(trust);
  let chain = cache.get(leaf.fingerprint);
  const t = at.getTime();
  if (!chain || t < chain.from || t > chain.to || Number.isNaN(t)) {
    chain = verifyChain(leaf.certificate, at, trust);
    cache.set(leaf.fingerprint, chain);
  }
  if (!requireSct) return;
  chain.scts ??= verifiedScts(chain.path, trust);
  if (chain.scts.length < 1) throw new SigstoreVerificationError({ code: 'CERTIFICATE_ERROR', message: `expected 1 SCTs, got ${chain.scts.length}` });
}

/** `@sigstore/verify`'s `verifyCertificateChain`, also telling for how long its answer holds. */
function verifyChain(leaf: X509Certificate, at: Date, trust: TrustMaterial): VerifiedChain {
  let error: unknown;
  for (const ca of trust.certificateAuthorities) {
    if (!(ca.validFor.start <= at && at <= ca.validFor.end)) continue;
    try {
      const path = certificatePath(leaf, ca.certChain, at);
      const from = Math.max(ca.validFor.start.getTime(), ...path.map((c) => c.notBefore.getTime()));
      const to = Math.min(ca.validFor.end.getTime(), ...path.map((c) => c.notAfter.getTime()));
      return { path, from, to };
    } catch (err) {
      error = err;
    }
  }
  throw new SigstoreVerificationError({ code: 'CERTIFICATE_ERROR', message: 'Failed to verify certificate chain', cause: error });
}

function verifiedScts(path: X509Certificate[], trust: TrustMaterial): Buffer[] {
  const [leaf, issuer] = path;
  if (!leaf || !issuer) throw new SigstoreVerificationError({ code: 'CERTIFICATE_ERROR', message: 'no issuer to verify SCTs with' });
  const logs = sctLogs(leaf, issuer, trust);
  for (let i = 0; i < logs.length; i++) {
    for (let j = i + 1; j < logs.length; j++) {
      if (logs[i]!.equals(logs[j]!)) throw new SigstoreVerificationError({ code: 'CERTIFICATE_ERROR', message: 'duplicate SCT' });
    }
  }
  return logs;
}

/**
 * `@sigstore/verify`'s `verifySCTs`: every SCT embedded in the certificate
 * must verify, over the precertificate (the issuer's key hash, then the TBS
 * without the SCT extension), with a CT log of the trust material whose key
 * was valid at the SCT's time; the log ids of those SCTs. The TBS is
 * re-encoded with the extension left out instead of a parsed copy of the
 * certificate with the extension removed.
 */
function sctLogs(leaf: X509Certificate, issuer: X509Certificate, trust: TrustMaterial): Buffer[] {
  const extension = leaf.extensions.find((ext) => ext.subs[0]!.toOID() === EXTENSION_OID_SCT);
  if (!extension) return [];
  const scts = new X509SCTExtension(extension).signedCertificateTimestamps;
  if (scts.length === 0) return [];
  const tbs = encode(leaf.tbsCertificate, extension);
  const length = Buffer.from([(tbs.length >> 16) & 0xff, (tbs.length >> 8) & 0xff, tbs.length & 0xff]);
  const preCert = Buffer.concat([createHash('sha256').update(spkiOf(issuer)).digest(), length, tbs]);
  return scts.map((sct) => {
    const at = sct.datetime;
    const logs = trust.ctlogs.filter((log) => log.logID.equals(sct.logID) && log.validFor.start <= at && at <= log.validFor.end);
    if (!logs.some((log) => sct.verify(preCert, log.publicKey)))
      throw new SigstoreVerificationError({ code: 'CERTIFICATE_ERROR', message: 'SCT verification failed' });
    return sct.logID;
  });
}
