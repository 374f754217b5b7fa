import { X509Certificate } from '@sigstore/core';

/** Fulcio's OIDC issuer extensions: the DER-encoded v2 wins over the raw v1. */
const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const OID_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';

export interface CertificateIdentity {
  issuer: string;
  /** Every subject alternative name, of any type, as cosign collects them. */
  sans: string[];
}

/**
 * Who a Fulcio certificate vouches for, read the way cosign reads it
 * (`CertExtensions.GetIssuer`, `cryptoutils.GetSubjectAlternateNames`), so a
 * copied policy matches the same certificates.
 */
export function certificateIdentity(cert: X509Certificate): CertificateIdentity {
  const v2 = cert.extension(OID_ISSUER_V2);
  const issuer = v2 ? (v2.valueObj.subs[0]?.value.toString('utf8') ?? '') : (cert.extension(OID_ISSUER_V1)?.value.toString('utf8') ?? '');
  const sans: string[] = [];
  // extnValue wraps the SEQUENCE OF GeneralName.
  for (const name of cert.extension(OID_SUBJECT_ALT_NAME)?.valueObj.subs[0]?.subs ?? []) {
    const tag = name.tag;
    if (tag.isContextSpecific(0x01) || tag.isContextSpecific(0x02) || tag.isContextSpecific(0x06)) {
      sans.push(name.value.toString('utf8')); // email, DNS, URI
    } else if (tag.isContextSpecific(0x07)) {
      sans.push(ipString(name.value));
    } else if (tag.isContextSpecific(0x00)) {
      // otherName: type-id OID, then [0] EXPLICIT value (Fulcio's username SAN is a UTF8String).
      const value = name.subs[1]?.subs[0]?.value;
      if (value) sans.push(value.toString('utf8'));
    }
  }
  return { issuer, sans };
}

/** Go's `net.IP.String()`: dotted IPv4, compressed IPv6. */
function ipString(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  const groups: string[] = [];
  for (let i = 0; i + 1 < bytes.length; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // The URL parser compresses IPv6 the same way (RFC 5952).
  return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1);
}
