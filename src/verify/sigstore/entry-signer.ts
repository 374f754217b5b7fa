import type { KeyObject } from 'node:crypto';
import type { Bundle } from '@sigstore/bundle';
import { Entry as RekorV2Entry } from '@sigstore/protobuf-specs/rekor/v2';
import { isObject } from '../../json.ts';
import { VerificationError } from '../errors.ts';

/**
 * Whose reading of a Rekor entry's signer applies. cosign verifies legacy
 * signatures itself (`comparePublicKey` on the key its `bundleKey` reads from
 * the entry); cosign v3 hands sigstore bundles to sigstore-go, whose
 * `VerifyTlogEntry` compares the bundle's signer with the key `Entry.PublicKey`
 * reads. The two differ, so each path names its rules:
 * - kinds: cosign reads hashedrekord, rekord, intoto 0.0.1/0.0.2 and dsse;
 *   sigstore-go only hashedrekord 0.0.1, dsse 0.0.1 and intoto 0.0.2 (any other
 *   kind fails to parse there), taking a DSSE entry's first signature where
 *   cosign wants exactly one;
 * - PEM: cosign refuses anything after the block; sigstore-go reads the first
 *   block with Go's `pem.Decode` and ignores what is before and after it;
 * - Rekor v2: sigstore-go rebuilds a hashedrekord 0.0.2 entry from the
 *   bundle's own certificate or key and checks the log holds that, so an entry
 *   naming anyone else fails; `@sigstore/verify` checks the body the bundle
 *   brings as it is, so here the entry's verifier is compared instead.
 *   sigstore-go refuses dsse 0.0.2 entries outright (Rekor v2 logs DSSE as hashedrekord).
 */
export type EntrySignerRules = 'cosign' | 'sigstore-go';

/**
 * What `@sigstore/verify` does not check: the bundle's Rekor entries name
 * the certificate the bundle carries (keyless) or `key`. The log vouches for
 * the entry and the entry for its signer: an entry for the same signature
 * bytes under another certificate of the same key must not lend this one its
 * time. Called once the bundle verified, on the entries actually read (none
 * where a required RFC 3161 timestamp has them dropped).
 */
export function assertRekorEntryNamesSigner(bundle: Bundle, key: KeyObject | undefined, rules: EntrySignerRules): void {
  const material = bundle.verificationMaterial;
  const signer = key
    ? { der: key.export({ type: 'spki', format: 'der' }), what: 'key' as const }
    : { der: leafDer(material.content), what: 'certificate' as const };
  for (const entry of material.tlogEntries) {
    const body = JSON.parse(entry.canonicalizedBody.toString('utf8')) as Record<string, unknown>;
    const named = rules === 'cosign' ? pemDer(cosignEntryVerifier(body)) : sigstoreGoEntryVerifier(body, signer.what);
    if (!signer.der || !named || !named.equals(signer.der)) {
      // sigstore-go says "transparency log certificate does not match" for a key too.
      throw new VerificationError(
        'TLOG',
        rules === 'cosign'
          ? `the Rekor entry names another ${signer.what} than the signature's`
          : `transparency log certificate does not match: the Rekor entry names another ${signer.what} than the bundle's`,
      );
    }
  }
}

function leafDer(content: Bundle['verificationMaterial']['content']): Buffer | undefined {
  if (content.$case === 'certificate') return content.certificate.rawBytes;
  if (content.$case === 'x509CertificateChain') return content.x509CertificateChain.certificates[0]?.rawBytes;
  return undefined;
}

const at = (value: unknown, ...path: (string | number)[]): unknown =>
  path.reduce<unknown>((v, k) => (typeof k === 'number' ? (Array.isArray(v) ? v[k] : undefined) : isObject(v) ? v[k] : undefined), value);

/** Where a Rekor entry holds its signer's key or certificate (base64 of PEM), by kind and version, as cosign's `bundleKey` reads it. */
function cosignEntryVerifier(entry: Record<string, unknown>): unknown {
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

/**
 * The DER sigstore-go's `Entry.PublicKey` reads from an entry (pkg/tlog/entry.go):
 * Rekor v1 hashedrekord 0.0.1, dsse 0.0.1 (first signature), intoto 0.0.2
 * (first signature), base64 of PEM; Rekor v2 hashedrekord 0.0.2, the
 * verifier's raw bytes, which must be a certificate for a certificate bundle
 * and a key for a key bundle (the only entry sigstore-go's rebuilt one equals).
 */
function sigstoreGoEntryVerifier(entry: Record<string, unknown>, signer: 'certificate' | 'key'): Buffer | undefined {
  const spec = entry.spec;
  switch (`${String(entry.kind)} ${String(entry.apiVersion)}`) {
    case 'hashedrekord 0.0.1':
      return goPemDecode(at(spec, 'signature', 'publicKey', 'content'));
    case 'dsse 0.0.1':
      return goPemDecode(at(spec, 'signatures', 0, 'verifier'));
    case 'intoto 0.0.2':
      return goPemDecode(at(spec, 'content', 'envelope', 'signatures', 0, 'publicKey'));
    case 'hashedrekord 0.0.2': {
      let v2: RekorV2Entry;
      try {
        v2 = RekorV2Entry.fromJSON(entry);
      } catch {
        return undefined;
      }
      const verifier = v2.spec?.spec?.$case === 'hashedRekordV002' ? v2.spec.spec.hashedRekordV002.signature?.verifier?.verifier : undefined;
      if (verifier?.$case === 'x509Certificate') return signer === 'certificate' ? verifier.x509Certificate.rawBytes : undefined;
      if (verifier?.$case === 'publicKey') return signer === 'key' ? verifier.publicKey.rawBytes : undefined;
      return undefined;
    }
    case 'dsse 0.0.2':
      throw new VerificationError('TLOG', 'Rekor v2 dsse entry: sigstore-go reads none (Rekor v2 logs a DSSE envelope as a hashedrekord entry)');
    default:
      throw new VerificationError('TLOG', `Rekor entry of kind ${String(entry.kind)} ${String(entry.apiVersion)} is not one sigstore-go reads`);
  }
}

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Go's `pem.Decode` of base64-of-PEM, as sigstore-go reads an entry's key: the
 * DER of the first well-formed block (BEGIN at a line start, the same type
 * on its END line, padded base64), whatever comes before or after it.
 * Headers inside the block are not read: such a block names no one here.
 */
function goPemDecode(value: unknown): Buffer | undefined {
  if (typeof value !== 'string') return undefined;
  const text = Buffer.from(value, 'base64').toString('latin1');
  const block = /(?:^|\n)-----BEGIN ([^\n]*)-----[ \t]*\r?\n(?:([A-Za-z0-9+/= \t\r\n]*?)\n)?-----END \1-----[ \t]*(?:\r?\n|$)/g;
  for (let m = block.exec(text); m; m = block.exec(text)) {
    const base64 = (m[2] ?? '').replace(/[ \t\r\n]/g, '');
    if (STRICT_BASE64.test(base64)) return Buffer.from(base64, 'base64');
    // Not decodable: Go looks for the next BEGIN after this one.
    block.lastIndex = m.index + 1;
  }
  return undefined;
}
