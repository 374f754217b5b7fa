import type { KeyObject } from 'node:crypto';
import { crypto as sigstoreCrypto, type ASN1Obj, type X509Certificate } from '@sigstore/core';
import { VerificationError as SigstoreVerificationError } from '@sigstore/verify';

/**
 * The path `@sigstore/verify`'s `CertificateChainVerifier` builds and checks
 * (same issuer search by key identifier or name, same signature, CA,
 * name-chaining, path-length and validity checks, same choice of the
 * shortest trusted path), with what it recomputes on every call computed once
 * per certificate object: its DER and TBS encodings, its public key, and each
 * signature check between two certificates. The trust material's CA
 * certificates are the same objects for every verification, so the checks
 * among them (an intermediate signed by the root, the root's self-signature:
 * P-384 signatures at 1.6 ms each) are made once per process; a new leaf
 * costs one signature check against its issuer.
 */

const der = new WeakMap<X509Certificate, Buffer>();
const tbs = new WeakMap<X509Certificate, Buffer>();
const keys = new WeakMap<X509Certificate, KeyObject>();
const signedBy = new WeakMap<X509Certificate, WeakMap<X509Certificate, boolean>>();

/** A Fulcio chain is two or three certificates; deeper searches are refused rather than followed (hostile cross-signatures). */
const MAX_PATH = 10;

const derOf = (cert: X509Certificate): Buffer => memo(der, cert, () => encode(cert.root));

/**
 * `ASN1Obj.toDER()`, byte for byte (one tag byte, minimal length, the
 * children's encodings or the value), without its stream that allocates a
 * fresh kilobyte per node: re-encoding a certificate that way costs more
 * than verifying its signature.
 */
export function encode(node: ASN1Obj, without?: ASN1Obj): Buffer {
  // Leaving a child out is the library's clone with the child spliced out of its parent: a parent left with no child is encoded from its value.
  const subs = without ? node.subs.filter((sub) => sub !== without) : node.subs;
  const content = subs.length > 0 ? Buffer.concat(subs.map((sub) => encode(sub, without))) : node.value;
  return Buffer.concat([Buffer.from([node.tag.toDER()]), encodeLength(content.length), content]);
}

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const sameCertificate = (a: X509Certificate, b: X509Certificate): boolean => a === b || derOf(a).equals(derOf(b));

function memo<V>(map: WeakMap<X509Certificate, V>, cert: X509Certificate, make: () => V): V {
  let value = map.get(cert);
  if (value === undefined) {
    value = make();
    map.set(cert, value);
  }
  return value;
}

/** The certificate's subject public key (`cert.publicKey`: the TBS's seventh element), created once. */
export function publicKeyOf(cert: X509Certificate): KeyObject {
  return memo(keys, cert, () => sigstoreCrypto.createPublicKey(spkiOf(cert)));
}

const tbsOf = (cert: X509Certificate): Buffer => memo(tbs, cert, () => encode(cert.tbsCertificate));

/** The DER SubjectPublicKeyInfo of the certificate. */
export const spkiOf = (cert: X509Certificate): Buffer => encode(cert.tbsCertificate.subs[6]!);

/** `cert.verify(issuer)`: the issuer's key verifies the certificate's signature over its TBS bytes (throws if the key is unusable). */
function verifiesWith(cert: X509Certificate, issuer: X509Certificate): boolean {
  let byIssuer = signedBy.get(cert);
  if (!byIssuer) {
    byIssuer = new WeakMap();
    signedBy.set(cert, byIssuer);
  }
  let ok = byIssuer.get(issuer);
  if (ok === undefined) {
    const key = publicKeyOf(issuer);
    ok = sigstoreCrypto.verify(tbsOf(cert), key, cert.signatureValue, cert.signatureAlgorithm);
    byIssuer.set(issuer, ok);
  }
  return ok;
}

const fail = (message: string): never => {
  throw new SigstoreVerificationError({ code: 'CERTIFICATE_ERROR', message });
};

/** The verified path from `leaf` up to (not repeating) the trusted root, valid at `at`; throws CERTIFICATE_ERROR. */
export function certificatePath(leaf: X509Certificate, trusted: X509Certificate[], at: Date): X509Certificate[] {
  const local: X509Certificate[] = [];
  for (const cert of [...trusted, leaf]) if (!local.some((c) => sameCertificate(c, cert))) local.push(cert);
  const paths = buildPaths(leaf, local, 0).filter((path) => path.some((cert) => trusted.includes(cert)));
  if (paths.length === 0) fail('no trusted certificate path found');
  const shortest = paths.reduce((prev, curr) => (prev.length < curr.length ? prev : curr));
  // The last certificate of a path is the self-signed root, repeated.
  const path = [leaf, ...shortest].slice(0, -1);
  checkPath(path);
  if (!path.every((cert) => cert.validForDate(at))) fail('certificate is not valid or expired at the specified date');
  return path;
}

function buildPaths(cert: X509Certificate, local: X509Certificate[], depth: number): X509Certificate[][] {
  if (depth > MAX_PATH) fail('certificate path too long');
  const issuers = findIssuers(cert, local);
  if (issuers.length === 0) fail('no valid certificate path found');
  const paths: X509Certificate[][] = [];
  for (const issuer of issuers) {
    if (sameCertificate(issuer, cert)) {
      paths.push([cert]);
      continue;
    }
    for (const sub of buildPaths(issuer, local, depth + 1)) paths.push([issuer, ...sub]);
  }
  return paths;
}

function findIssuers(cert: X509Certificate, local: X509Certificate[]): X509Certificate[] {
  // Self-signed: its own issuer (an unusable key throws, as upstream's does).
  if (cert.subject.equals(cert.issuer) && verifiesWith(cert, cert)) return [cert];
  const keyId = cert.extAuthorityKeyID?.keyIdentifier;
  const candidates = local.filter((possible) => {
    if (keyId) {
      const subjectKeyId = possible.extSubjectKeyID;
      if (subjectKeyId) return subjectKeyId.keyIdentifier.equals(keyId);
    }
    return possible.subject.equals(cert.issuer);
  });
  return candidates.filter((issuer) => {
    try {
      return verifiesWith(cert, issuer);
    } catch {
      return false;
    }
  });
}

function checkPath(path: X509Certificate[]): void {
  if (path.length < 1) fail('certificate chain must contain at least one certificate');
  if (!path.slice(1).every((cert) => cert.isCA)) fail('intermediate certificate is not a CA');
  for (let i = path.length - 2; i >= 0; i--) if (!path[i]!.issuer.equals(path[i + 1]!.subject)) fail('incorrect certificate name chaining');
  path.forEach((cert, i) => {
    const constraints = cert.extBasicConstraints;
    if (constraints?.isCA && constraints.pathLenConstraint !== undefined && constraints.pathLenConstraint < i - 1) fail('path length constraint exceeded');
  });
}
