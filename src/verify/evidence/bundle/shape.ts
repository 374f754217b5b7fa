import { isObject } from '../../../json.ts';

/**
 * The sigstore bundle's protobuf messages (protobuf-specs `Bundle` v0.3) as
 * protojson reads them in sigstore-go: a field the message does not have is
 * an error (no `DiscardUnknown`), and so are two members of one oneof. The
 * JavaScript reader (`@sigstore/bundle`) ignores unknown fields and picks the
 * first oneof member it finds, so without this check a bundle cosign refuses
 * could be read here (`publicKey` beside `x509CertificateChain`, say).
 * Only the JSON names are known: a proto name (`verification_material`),
 * which protojson also takes, is not read by `@sigstore/bundle` either, and
 * counts as unknown rather than as a field read as absent.
 */
interface Message {
  readonly fields: Readonly<Record<string, Message | readonly [Message] | null>>;
  readonly oneofs?: readonly (readonly string[])[];
}

const leaf = (...names: string[]): Message => ({ fields: Object.fromEntries(names.map((n) => [n, null])) });

const X509_CERTIFICATE = leaf('rawBytes');
const TLOG_ENTRY: Message = {
  fields: {
    logIndex: null,
    logId: leaf('keyId'),
    kindVersion: leaf('kind', 'version'),
    integratedTime: null,
    inclusionPromise: leaf('signedEntryTimestamp'),
    inclusionProof: { fields: { logIndex: null, rootHash: null, treeSize: null, hashes: null, checkpoint: leaf('envelope') } },
    canonicalizedBody: null,
  },
};
const BUNDLE: Message = {
  fields: {
    mediaType: null,
    verificationMaterial: {
      fields: {
        publicKey: leaf('hint'),
        x509CertificateChain: { fields: { certificates: [X509_CERTIFICATE] } },
        certificate: X509_CERTIFICATE,
        tlogEntries: [TLOG_ENTRY],
        timestampVerificationData: { fields: { rfc3161Timestamps: [leaf('signedTimestamp')] } },
      },
      oneofs: [['publicKey', 'x509CertificateChain', 'certificate']],
    },
    messageSignature: { fields: { messageDigest: leaf('algorithm', 'digest'), signature: null } },
    dsseEnvelope: { fields: { payload: null, payloadType: null, signatures: [leaf('sig', 'keyid')] } },
  },
  oneofs: [['messageSignature', 'dsseEnvelope']],
};

/** Why sigstore-go's protojson would refuse this bundle document's shape, or undefined. */
export function bundleShapeProblem(json: unknown): string | undefined {
  return shapeProblem(json, BUNDLE, '');
}

function shapeProblem(value: unknown, message: Message, path: string): string | undefined {
  // null is protojson's "not set"; other wrong types are the reader's to refuse.
  if (!isObject(value)) return undefined;
  const where = path ? ` in ${path}` : '';
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(message.fields, key)) {
      return `bundle has the field "${key.slice(0, 64)}"${where}, which the sigstore bundle format does not define (sigstore-go's protojson refuses unknown fields)`;
    }
  }
  for (const oneof of message.oneofs ?? []) {
    const set = oneof.filter((f) => value[f] !== undefined && value[f] !== null);
    if (set.length > 1) return `bundle sets both ${set[0]} and ${set[1]}${where}, of which a bundle holds one (sigstore-go's protojson refuses it)`;
  }
  for (const [field, inner] of Object.entries(message.fields)) {
    if (inner === null) continue;
    const at = path ? `${path}.${field}` : field;
    const v = value[field];
    if (Array.isArray(inner)) {
      if (!Array.isArray(v)) continue;
      for (const [i, item] of v.entries()) {
        const problem = shapeProblem(item, inner[0] as Message, `${at}[${i}]`);
        if (problem) return problem;
      }
    } else {
      const problem = shapeProblem(v, inner as Message, at);
      if (problem) return problem;
    }
  }
  return undefined;
}
