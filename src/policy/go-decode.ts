import { X509Certificate, createPublicKey } from 'node:crypto';
import { parseGoUrl } from '../registry/reference.ts';
import { generic, type FieldIssue } from './problems.ts';

/**
 * Values read the way policy-controller's Go code reads them: `[]byte` fields
 * (encoding/json's base64), `apis.URL` fields (`url.Parse`), PEM text
 * (`pem.Decode`) and the keys and certificates in it (sigstore's
 * `cryptoutils`). Node's own decoders are more lenient, so a value they take
 * could still be refused in a cluster.
 */

/**
 * Go's `base64.StdEncoding.Decode` (what encoding/json does to `[]byte`
 * fields): padding required, `\r` and `\n` ignored. Returns the bytes, or
 * Go's error text with the offset Go reports.
 */
export function goBase64Decode(s: string): Buffer | string {
  const fail = (at: number) => `illegal base64 data at input byte ${at}`;
  const isData = (c: string | undefined) => c !== undefined && /[A-Za-z0-9+/]/.test(c);
  const isNewline = (c: string | undefined) => c === '\n' || c === '\r';
  let si = 0;
  let clean = '';
  for (;;) {
    let quantum = '';
    let j = 0;
    for (; j < 4; j++) {
      if (si === s.length) {
        if (j === 0) return Buffer.from(clean, 'base64');
        return fail(si - j);
      }
      const c = s[si]!;
      si += 1;
      if (isData(c)) {
        quantum += c;
        continue;
      }
      if (isNewline(c)) {
        j -= 1;
        continue;
      }
      if (c !== '=' || j < 2) return fail(si - 1);
      if (j === 2) {
        while (isNewline(s[si])) si += 1;
        if (si === s.length) return fail(s.length);
        if (s[si] !== '=') return fail(si - 1);
        si += 1;
      }
      while (isNewline(s[si])) si += 1;
      if (si < s.length) return fail(si);
      return Buffer.from(clean + quantum, 'base64');
    }
    clean += quantum;
  }
}

/** Go decodes knative `apis.URL` fields with `url.Parse`; a failure rejects the object. */
export function urlDecodeIssues(url: string, path: string): FieldIssue[] {
  try {
    parseGoUrl(url);
    return [];
  } catch (err) {
    return [generic((err as Error).message, path)];
  }
}

interface PemBlock {
  type: string;
  der: Buffer;
  /** Text after the block's END line. */
  rest: string;
}

/**
 * Go's `pem.Decode`: the first well-formed block (BEGIN at the start or after
 * a newline, matching END, valid base64), skipping text and broken blocks
 * before it. Headers (`Key: value` lines) are not supported: keys have none.
 */
function firstPemBlock(text: string): PemBlock | undefined {
  const BEGIN = '-----BEGIN ';
  let from = 0;
  for (;;) {
    const at = text.startsWith(BEGIN, from) ? from : text.indexOf(`\n${BEGIN}`, from);
    if (at < 0) return undefined;
    const typeStart = (text[at] === '\n' ? at + 1 : at) + BEGIN.length;
    const eol = text.indexOf('\n', typeStart);
    const typeLine = text.slice(typeStart, eol < 0 ? text.length : eol).replace(/[ \t\r]+$/, '');
    from = eol < 0 ? text.length : eol + 1;
    if (!typeLine.endsWith('-----') || eol < 0) continue;
    const type = typeLine.slice(0, -5);
    const body = text.slice(from);
    const end = body.startsWith('-----END ') ? 0 : body.indexOf('\n-----END ');
    if (end < 0) continue;
    const trailerStart = end === 0 ? '-----END '.length : end + '\n-----END '.length;
    const trailer = `${type}-----`;
    if (!body.startsWith(trailer, trailerStart)) continue;
    const afterEnd = body.slice(trailerStart + trailer.length);
    const lineEnd = afterEnd.indexOf('\n');
    if (afterEnd.slice(0, lineEnd < 0 ? afterEnd.length : lineEnd).replace(/[ \t\r]+$/, '') !== '') continue;
    const der = goBase64Decode(body.slice(0, end).replace(/[ \t]/g, ''));
    if (!Buffer.isBuffer(der)) continue;
    return { type, der, rest: lineEnd < 0 ? '' : afterEnd.slice(lineEnd + 1) };
  }
}

/** Curves Go's x509.ParsePKIXPublicKey accepts (node names them differently). */
const GO_EC_CURVES = new Set(['secp224r1', 'prime256v1', 'secp384r1', 'secp521r1']);
const GO_KEY_TYPES = new Set(['rsa', 'dsa', 'ed25519', 'x25519']);

/**
 * `cryptoutils.UnmarshalPEMToPublicKey`: true when the first PEM block is a
 * `PUBLIC KEY` (PKIX) or `RSA PUBLIC KEY` (PKCS#1) Go can use.
 */
export function isPublicKeyPem(text: string): boolean {
  const block = firstPemBlock(text);
  if (!block || (block.type !== 'PUBLIC KEY' && block.type !== 'RSA PUBLIC KEY')) return false;
  try {
    const key = createPublicKey({ key: block.der, format: 'der', type: block.type === 'PUBLIC KEY' ? 'spki' : 'pkcs1' });
    if (key.asymmetricKeyType === 'ec') return GO_EC_CURVES.has(key.asymmetricKeyDetails?.namedCurve ?? '');
    return GO_KEY_TYPES.has(key.asymmetricKeyType ?? '');
  } catch {
    return false;
  }
}

/** `cryptoutils.UnmarshalCertificatesFromPEM`, counting the non-CA ("leaf") certificates. */
export function splitCertificateChain(pem: string): { leaves: number } | string {
  let rest = pem.trim();
  let leaves = 0;
  while (rest.length > 0) {
    const block = firstPemBlock(rest);
    if (!block) return 'error during PEM decoding';
    try {
      if (!new X509Certificate(block.der).ca) leaves += 1;
    } catch (err) {
      return `x509: ${(err as Error).message}`;
    }
    rest = block.rest;
  }
  return { leaves };
}
