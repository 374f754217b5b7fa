import type { X509Certificate } from '@sigstore/core';
import { VerificationError } from '../errors.ts';

/** Fulcio's OIDC issuer extensions (fulcio `pkg/certificate`): v1 holds the raw string, v2 a DER string. */
const OID_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
/** The only otherName type sigstore reads (`cryptoutils.OIDOtherName`: Fulcio's username SAN). */
const OID_FULCIO_OTHERNAME = '1.3.6.1.4.1.57264.1.7';

export interface CertificateIdentity {
  issuer: string;
  /** The subject alternative names cosign matches a policy's subject against, in its order. */
  sans: string[];
}

const malformed = (why: string) => new VerificationError('EVIDENCE_MALFORMED', `certificate ${why}`);

/**
 * Who a Fulcio certificate vouches for, read the way cosign and sigstore-go
 * read it, so a copied policy matches the same certificates:
 *
 * - Issuer: cosign's legacy path (`CertExtensions.GetIssuer`) reads only the
 *   v1 extension; sigstore-go (fulcio's `ParseExtensions`) reads both, the
 *   later in the certificate winning. Where both are present they must agree,
 *   or the two upstreams would judge one certificate by different issuers: a
 *   deny naming both. A v2 value that is not a DER string is refused, as
 *   `ParseExtensions` refuses it.
 * - SANs: `cryptoutils.GetSubjectAlternateNames`: DNS names, emails, IP
 *   addresses, URIs (that order, as Go's x509 groups them), then the one
 *   otherName of type 1.3.6.1.4.1.57264.1.7, and none at all if there is an
 *   otherName of another type or more than one (`UnmarshalOtherNameSAN` errs
 *   and the error is ignored). Names Go's x509 parser refuses (an email or
 *   DNS name that is not ASCII, an IP address not 4 or 16 bytes long) make
 *   the certificate unreadable, as they make it for cosign.
 * - Go refuses a certificate with an extension twice; so does this.
 */
export function certificateIdentity(cert: X509Certificate): CertificateIdentity {
  const seen = new Set<string>();
  for (const ext of cert.extensions) {
    const oid = ext.subs[0]?.toOID() ?? '';
    if (seen.has(oid)) throw malformed(`has the extension ${oid} twice (Go's x509, and so cosign, refuses such a certificate)`);
    seen.add(oid);
  }
  return { issuer: issuerOf(cert), sans: subjectAltNames(cert) };
}

function issuerOf(cert: X509Certificate): string {
  const v1 = cert.extension(OID_ISSUER_V1)?.value.toString('utf8');
  const v2raw = cert.extension(OID_ISSUER_V2)?.value;
  const v2 = v2raw === undefined ? undefined : derString(v2raw);
  if (v2raw !== undefined && v2 === undefined) throw malformed(`issuer extension v2 (${OID_ISSUER_V2}) is not a DER-encoded string`);
  if (v1 !== undefined && v2 !== undefined && v1 !== v2) {
    throw new VerificationError(
      'IDENTITY_MISMATCH',
      `certificate names two issuers: "${v1.slice(0, 200)}" in the v1 extension (${OID_ISSUER_V1}) and "${v2.slice(0, 200)}" in the v2 extension (${OID_ISSUER_V2}); cosign reads the first and sigstore-go the other, so neither is trusted`,
    );
  }
  return v2 ?? v1 ?? '';
}

function subjectAltNames(cert: X509Certificate): string[] {
  const ext = cert.extension(OID_SUBJECT_ALT_NAME);
  if (!ext) return [];
  const der = ext.value;
  const seq = readTlv(der, 0);
  if (!seq || seq.tag !== 0x30 || seq.end !== der.length) throw malformed('subject alternative names are not one DER SEQUENCE');
  const dns: string[] = [];
  const emails: string[] = [];
  const ips: string[] = [];
  const uris: string[] = [];
  const otherNames: (string | undefined)[] = [];
  for (let p = seq.contentStart; p < seq.end;) {
    const name = readTlv(der, p, seq.end);
    if (!name) throw malformed('subject alternative names are not valid DER');
    const content = der.subarray(name.contentStart, name.end);
    switch (name.tag) {
      case 0x81:
        emails.push(ia5(content, 'rfc822Name'));
        break;
      case 0x82:
        dns.push(ia5(content, 'dNSName'));
        break;
      case 0x86:
        uris.push(ia5(content, 'uniformResourceIdentifier'));
        break;
      case 0x87:
        if (content.length !== 4 && content.length !== 16) throw malformed(`IP address SAN of ${content.length} bytes is malformed`);
        ips.push(ipString(content));
        break;
      case 0xa0:
        otherNames.push(fulcioOtherName(der, name.contentStart, name.end));
        break;
      default:
      // Other GeneralName kinds (directoryName, registeredID…) are not identities to cosign.
    }
    p = name.end;
  }
  // UnmarshalOtherNameSAN: exactly one otherName, of Fulcio's type, or none counted at all.
  const other = otherNames.length === 1 ? otherNames[0] : undefined;
  return [...dns, ...emails, ...ips, ...uris, ...(other ? [other] : [])];
}

/** An otherName `{type-id OID, [0] EXPLICIT UTF8String}` of Fulcio's type, or undefined (another type, or not that shape). */
function fulcioOtherName(der: Buffer, start: number, end: number): string | undefined {
  const oid = readTlv(der, start, end);
  if (!oid || oid.tag !== 0x06) return undefined;
  const explicit = readTlv(der, oid.end, end);
  if (!explicit || explicit.tag !== 0xa0 || explicit.end !== end) return undefined;
  const value = readTlv(der, explicit.contentStart, explicit.end);
  if (!value || value.tag !== 0x0c || value.end !== explicit.end) return undefined;
  if (oidString(der.subarray(oid.contentStart, oid.end)) !== OID_FULCIO_OTHERNAME) return undefined;
  return utf8(der.subarray(value.contentStart, value.end));
}

/** The string of a DER UTF8String, PrintableString or IA5String filling `der`, as Go's asn1 reads one into a string. */
function derString(der: Buffer): string | undefined {
  const t = readTlv(der, 0);
  if (!t || t.end !== der.length) return undefined;
  const content = der.subarray(t.contentStart, t.end);
  if (t.tag === 0x0c) return utf8(content);
  if ((t.tag === 0x13 || t.tag === 0x16) && content.every((b) => b < 0x80)) return content.toString('latin1');
  return undefined;
}

function utf8(bytes: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** Go's x509 requires SAN strings to be IA5 (ASCII) and refuses the certificate otherwise. */
function ia5(bytes: Buffer, kind: string): string {
  if (!bytes.every((b) => b < 0x80)) throw malformed(`SAN ${kind} is malformed (not ASCII)`);
  return bytes.toString('latin1');
}

/** One DER TLV at `offset` (definite, minimal length), or undefined. */
function readTlv(der: Buffer, offset: number, limit = der.length): { tag: number; contentStart: number; end: number } | undefined {
  if (offset + 2 > limit) return undefined;
  const tag = der[offset]!;
  if ((tag & 0x1f) === 0x1f) return undefined; // high tag numbers: not in any GeneralName read here
  let length = der[offset + 1]!;
  let contentStart = offset + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0 || octets > 4 || contentStart + octets > limit) return undefined;
    length = der.readUIntBE(contentStart, octets);
    if (der[contentStart] === 0 || length < 0x80) return undefined; // not minimal
    contentStart += octets;
  }
  const end = contentStart + length;
  return end > limit ? undefined : { tag, contentStart, end };
}

function oidString(bytes: Buffer): string {
  if (bytes.length === 0) return '';
  const arcs: number[] = [];
  let n = 0;
  for (const b of bytes) {
    n = n * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      arcs.push(n);
      n = 0;
    }
  }
  const first = arcs.shift()!;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs].join('.');
}

/** Go's `net.IP.String()`: dotted IPv4 (also for IPv4-mapped IPv6), else compressed IPv6. */
function ipString(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return [...bytes.subarray(12)].join('.');
  const groups: string[] = [];
  for (let i = 0; i + 1 < bytes.length; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // The URL parser compresses IPv6 the same way (RFC 5952).
  return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1);
}
