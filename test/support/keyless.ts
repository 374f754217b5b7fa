import { createHash, generateKeyPairSync, randomInt, sign, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import {
  bundleToJSON,
  envelopeToJSON,
  toDSSEBundle,
  toMessageSignatureBundle,
  type Bundle,
  type SerializedBundle,
  type TransparencyLogEntry,
} from '@sigstore/bundle';
import { HashAlgorithm, PublicKeyDetails, TrustedRoot, type TransparencyLogInstance } from '@sigstore/protobuf-specs';
// Deep imports on purpose: the package entry point loads nock, which patches node:http globally.
import { initializeCA, type CA } from '@sigstore/mock/dist/fulcio/ca.js';
import { initializeCTLog, type CTLog } from '@sigstore/mock/dist/fulcio/ctlog.js';
import { initializeTLog, type TLog } from '@sigstore/mock/dist/rekor/tlog.js';
import { initializeTSA, type TSA } from '@sigstore/mock/dist/timestamp/tsa.js';
import type { CosignRekorBundle, CosignRfc3161Timestamp } from './cosign.ts';

// Never contacted: verifiers only compare the checkpoint signer name against the Rekor URL.
const FULCIO_URL = 'https://fulcio.sigwatch.test';
const REKOR_URL = 'https://rekor.sigwatch.test';
const CTLOG_URL = 'https://ctfe.sigwatch.test';
const TSA_URL = 'https://timestamp.sigwatch.test';

const OID_FULCIO_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const OID_FULCIO_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const OID_SHA256 = '2.16.840.1.101.3.4.2.1';
const OID_SIGSTORE_TSA_POLICY = '1.3.6.1.4.1.57264.2';

/** Whom Fulcio vouches for: the OIDC issuer and the SAN (an email, or a URI such as a CI workflow). */
export interface Identity {
  issuer: string;
  subject: string;
  /**
   * The value of the deprecated v1 issuer extension when it is to differ from
   * `issuer` (which the v2 extension holds): a certificate whose two issuers
   * disagree, as a broken or hostile CA could issue.
   */
  issuerV1?: string;
  /** The SANs written instead of the one `subject` makes, in this order (otherNames, several names). */
  sans?: SubjectAltName[];
}

/** One GeneralName; `otherName` is Fulcio's username SAN (type 1.3.6.1.4.1.57264.1.7 unless `oid` says otherwise). */
export type SubjectAltName = { uri: string } | { email: string } | { dns: string } | { ip: Buffer } | { otherName: string; oid?: string };

export type TrustedRootJson = Record<string, unknown>;

export interface KeylessSignature {
  certificatePem: string;
  /** The CA chain above the leaf (here just the test root), as in cosign's chain annotation. */
  chainPem: string;
  /** base64 ECDSA signature over the payload */
  signature: string;
  /** cosign's `dev.sigstore.cosign/bundle` annotation object */
  rekorBundle: CosignRekorBundle;
  /** cosign's `dev.sigstore.cosign/rfc3161timestamp` annotation object, when a timestamp was asked for */
  rfc3161Timestamp?: CosignRfc3161Timestamp;
  /** The same signature as a sigstore bundle v0.3 (message signature). */
  bundle: SerializedBundle;
}

export interface KeylessFixture {
  trustedRoot: TrustedRootJson;
  /** Signs like `cosign sign` keyless; `timestamp` adds an RFC 3161 timestamp over the signature. */
  signKeyless(payload: Buffer, identity: Identity, opts?: { timestamp?: boolean }): Promise<KeylessSignature>;
  /**
   * One cosign invocation: one certificate for `identity`, then any number of
   * signatures with it, each with its own Rekor entry (`logAt` dates that entry
   * instead of the fixture's clock, e.g. after the certificate expired).
   */
  signer(identity: Identity): Promise<KeylessSigner>;
  /** Signs like `cosign attest --new-bundle-format`: a DSSE bundle with a `dsse` Rekor entry. */
  signDsseKeyless(payloadType: string, payload: Buffer, identity: Identity): Promise<SerializedBundle>;
  writeTrustedRoot(path: string): Promise<void>;
  /** Logs a key-made signature in the test Rekor, as `cosign sign --key` does: cosign's bundle annotation. */
  logKeySignature(payload: Buffer, signature: string, publicKeyPem: string): Promise<CosignRekorBundle>;
  /** Logs a DSSE envelope's one signature as a `dsse` v0.0.1 entry (`verifier`: a PEM key or certificate), as a bundle's tlog entry. */
  logDsse(envelopeJson: string, payload: Buffer, signature: Buffer, verifierPem: string): Promise<TransparencyLogEntry>;
  /** An RFC 3161 timestamp (DER TimeStampResp) over these signature bytes from this fixture's TSA. */
  timestamp(signature: Buffer): Promise<Buffer>;
}

export interface KeylessSigner {
  certificatePem: string;
  sign(payload: Buffer, opts?: { timestamp?: boolean; logAt?: Date }): Promise<KeylessSignature>;
}

/** The shape the mock Rekor returns, keyed by entry UUID. */
interface RekorLogEntry {
  body: string;
  integratedTime: number;
  logID: string;
  logIndex: number;
  verification: {
    signedEntryTimestamp: string;
    inclusionProof: { logIndex: number; treeSize: number; rootHash: string; hashes: string[]; checkpoint: string };
  };
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest();
const toBuffer = (view: ArrayBufferView) => Buffer.from(view.buffer, view.byteOffset, view.byteLength);

/**
 * An in-process sigstore: test Fulcio CA (with CT log), Rekor and TSA from
 * `@sigstore/mock`, and the trusted root that makes their output verify.
 *
 * `clock` stamps certificates, log entries and timestamps, but the mock's
 * root certificates always start at the real current time, so a clock in the
 * past yields signatures that fail chain validation. `ctLog: false` is a
 * private Fulcio without certificate transparency: no SCTs, no CT log in the root.
 */
export async function createKeylessFixture(opts: { clock?: Date; ctLog?: boolean } = {}): Promise<KeylessFixture> {
  const { clock } = opts;
  const caKeys = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const ctLog = await initializeCTLog(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }), clock);
  const ca = await initializeCA(caKeys, opts.ctLog === false ? undefined : emailAwareCtLog(ctLog), clock);
  const tlog = await initializeTLog(REKOR_URL, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }), clock);
  const tsa = await initializeTSA(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }), clock);
  // asn1js writes GeneralizedTime milliseconds without trailing zeros (`.12Z`),
  // which verifiers (rightly, for DER) refuse: about one timestamp in ten would
  // be unparseable. Keep three significant digits so the fixture never flakes.
  (tsa as unknown as { getCurrentTime: () => Date }).getCurrentTime = () => threeDigitMillis(clock ?? new Date());
  const trustedRoot = TrustedRoot.toJSON(buildTrustedRoot(ca, opts.ctLog === false ? undefined : ctLog, tlog, tsa, clock)) as TrustedRootJson;
  const chainPem = new X509Certificate(toBuffer(ca.rootCertificate)).toString();

  async function issueCertificate(identity: Identity): Promise<{ certificate: Buffer; privateKey: KeyObject }> {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    if (identity.sans) {
      const ct = opts.ctLog === false ? undefined : ctLog;
      return { certificate: await issueWithSans(identity, identity.sans, publicKey, caKeys, ct, clock), privateKey };
    }
    const issued = toBuffer(
      await ca.issueCertificate({
        publicKey: publicKey.export({ type: 'spki', format: 'der' }),
        subjectAltName: identity.subject,
        // Fulcio writes the issuer twice: the deprecated raw-string extension and its DER successor.
        extensions: [
          { oid: OID_FULCIO_ISSUER_V1, value: identity.issuerV1 ?? identity.issuer, legacy: true },
          { oid: OID_FULCIO_ISSUER_V2, value: identity.issuer },
        ],
      }),
    );
    const certificate = isEmail(identity.subject) ? resign(uriSanToEmail(issued), caKeys.privateKey) : issued;
    return { certificate, privateKey };
  }

  async function logEntry(body: object, kind: string, at?: Date): Promise<{ entry: RekorLogEntry; tlogEntry: TransparencyLogEntry }> {
    const clocked = tlog as unknown as { getCurrentTime: () => number };
    const now = clocked.getCurrentTime;
    if (at) clocked.getCurrentTime = () => at.getTime();
    let response: unknown;
    try {
      response = await tlog.log(body);
    } finally {
      clocked.getCurrentTime = now;
    }
    const logged = Object.values(response as Record<string, RekorLogEntry>);
    const entry = logged[0];
    if (!entry) throw new Error('mock Rekor returned no entry');
    const proof = entry.verification.inclusionProof;
    const tlogEntry: TransparencyLogEntry = {
      logIndex: String(entry.logIndex),
      logId: { keyId: Buffer.from(entry.logID, 'hex') },
      kindVersion: { kind, version: '0.0.1' },
      integratedTime: String(entry.integratedTime),
      inclusionPromise: { signedEntryTimestamp: Buffer.from(entry.verification.signedEntryTimestamp, 'base64') },
      inclusionProof: {
        logIndex: String(proof.logIndex),
        rootHash: Buffer.from(proof.rootHash, 'hex'),
        treeSize: String(proof.treeSize),
        hashes: proof.hashes.map((h) => Buffer.from(h, 'hex')),
        checkpoint: { envelope: proof.checkpoint },
      },
      canonicalizedBody: Buffer.from(entry.body, 'base64'),
    };
    return { entry, tlogEntry };
  }

  // Like cosign, timestamp the raw signature bytes; the answer is a DER TimeStampResp.
  async function timestamp(signature: Buffer): Promise<Buffer> {
    return toBuffer(
      await tsa.timestamp({
        artifactHash: sha256(signature),
        hashAlgorithmOID: OID_SHA256,
        nonce: randomInt(2 ** 31),
        policyOID: OID_SIGSTORE_TSA_POLICY,
        certReq: true,
      }),
    );
  }

  // Rekor's stored form of a dsse v0.0.1 entry: hashes plus signature and verifier.
  async function logDsse(envelopeJson: string, payload: Buffer, signature: Buffer, verifierPem: string): Promise<TransparencyLogEntry> {
    const { tlogEntry } = await logEntry(
      {
        apiVersion: '0.0.1',
        kind: 'dsse',
        spec: {
          envelopeHash: { algorithm: 'sha256', value: sha256(envelopeJson).toString('hex') },
          payloadHash: { algorithm: 'sha256', value: sha256(payload).toString('hex') },
          signatures: [{ signature: signature.toString('base64'), verifier: Buffer.from(verifierPem).toString('base64') }],
        },
      },
      'dsse',
    );
    return tlogEntry;
  }

  async function signWith(
    certificate: Buffer,
    privateKey: KeyObject,
    payload: Buffer,
    signOpts: { timestamp?: boolean; logAt?: Date } = {},
  ): Promise<KeylessSignature> {
    const certificatePem = new X509Certificate(certificate).toString();
    const signature = sign('sha256', payload, privateKey);
    const digest = sha256(payload);
    // Rekor's stored form of a hashedrekord v0.0.1 entry (what cosign's verifier re-derives).
    const { entry, tlogEntry } = await logEntry(
      {
        apiVersion: '0.0.1',
        kind: 'hashedrekord',
        spec: {
          data: { hash: { algorithm: 'sha256', value: digest.toString('hex') } },
          signature: { content: signature.toString('base64'), publicKey: { content: Buffer.from(certificatePem).toString('base64') } },
        },
      },
      'hashedrekord',
      signOpts.logAt,
    );
    const bundle: Bundle = toMessageSignatureBundle({ digest, signature, certificate });
    bundle.verificationMaterial.tlogEntries = [tlogEntry];
    const rfc3161 = signOpts.timestamp ? await timestamp(signature) : undefined;
    if (rfc3161) bundle.verificationMaterial.timestampVerificationData = { rfc3161Timestamps: [{ signedTimestamp: rfc3161 }] };
    const result: KeylessSignature = {
      certificatePem,
      chainPem,
      signature: signature.toString('base64'),
      rekorBundle: {
        SignedEntryTimestamp: entry.verification.signedEntryTimestamp,
        Payload: { body: entry.body, integratedTime: entry.integratedTime, logIndex: entry.logIndex, logID: entry.logID },
      },
      bundle: bundleToJSON(bundle),
    };
    if (rfc3161) result.rfc3161Timestamp = { SignedRFC3161Timestamp: rfc3161.toString('base64') };
    return result;
  }

  return {
    trustedRoot,
    logDsse,
    timestamp,

    async signKeyless(payload, identity, signOpts = {}) {
      const { certificate, privateKey } = await issueCertificate(identity);
      return signWith(certificate, privateKey, payload, signOpts);
    },

    async signer(identity) {
      const { certificate, privateKey } = await issueCertificate(identity);
      return { certificatePem: new X509Certificate(certificate).toString(), sign: (payload, signOpts) => signWith(certificate, privateKey, payload, signOpts) };
    },

    async logKeySignature(payload, signature, publicKeyPem) {
      const { entry } = await logEntry(
        {
          apiVersion: '0.0.1',
          kind: 'hashedrekord',
          spec: {
            data: { hash: { algorithm: 'sha256', value: sha256(payload).toString('hex') } },
            signature: { content: signature, publicKey: { content: Buffer.from(publicKeyPem).toString('base64') } },
          },
        },
        'hashedrekord',
      );
      return {
        SignedEntryTimestamp: entry.verification.signedEntryTimestamp,
        Payload: { body: entry.body, integratedTime: entry.integratedTime, logIndex: entry.logIndex, logID: entry.logID },
      };
    },

    async signDsseKeyless(payloadType, payload, identity) {
      const { certificate, privateKey } = await issueCertificate(identity);
      const signature = sign('sha256', preAuthEncoding(payloadType, payload), privateKey);
      const bundle: Bundle = toDSSEBundle({ artifact: payload, artifactType: payloadType, signature, certificate });
      if (bundle.content.$case !== 'dsseEnvelope') throw new Error('expected a DSSE bundle');
      const envelopeJson = JSON.stringify(envelopeToJSON(bundle.content.dsseEnvelope));
      const tlogEntry = await logDsse(envelopeJson, payload, signature, new X509Certificate(certificate).toString());
      bundle.verificationMaterial.tlogEntries = [tlogEntry];
      return bundleToJSON(bundle);
    },

    async writeTrustedRoot(path) {
      await writeFile(path, `${JSON.stringify(trustedRoot, null, 2)}\n`);
    },
  };
}

function threeDigitMillis(date: Date): Date {
  const ms = date.getUTCMilliseconds();
  return ms % 10 === 0 ? new Date(date.getTime() + 1) : date;
}

function buildTrustedRoot(ca: CA, ctLog: CTLog | undefined, tlog: TLog, tsa: TSA, clock: Date | undefined): TrustedRoot {
  // A minute of slack: certificate times are truncated to whole seconds.
  const start = new Date(Math.min(Date.now(), clock?.getTime() ?? Infinity) - 60_000);
  const logInstance = (baseUrl: string, publicKey: Buffer): TransparencyLogInstance => ({
    baseUrl,
    hashAlgorithm: HashAlgorithm.SHA2_256,
    publicKey: { rawBytes: publicKey, keyDetails: PublicKeyDetails.PKIX_ECDSA_P256_SHA_256, validFor: { start } },
    logId: { keyId: sha256(publicKey) },
    checkpointKeyId: undefined,
    operator: 'sigwatch-test',
  });
  const authority = (uri: string, commonName: string, chain: ArrayBufferView<ArrayBuffer>[]) => ({
    subject: { organization: 'sigstore.mock', commonName },
    uri,
    certChain: { certificates: chain.map((cert) => ({ rawBytes: toBuffer(cert) })) },
    validFor: { start },
    operator: 'sigwatch-test',
  });
  return {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [logInstance(REKOR_URL, tlog.publicKey)],
    ctlogs: ctLog ? [logInstance(CTLOG_URL, ctLog.publicKey)] : [],
    certificateAuthorities: [authority(FULCIO_URL, 'sigstore', [ca.rootCertificate])],
    timestampAuthorities: [authority(TSA_URL, 'tsa', [tsa.intCertificate, tsa.rootCertificate])],
  };
}

// DSSE v1 pre-authentication encoding: what a DSSE signature actually signs.
function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType);
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

// ---- email SANs -------------------------------------------------------------
// The mock CA always writes the SAN as a URI. Real Fulcio writes emails as
// rfc822Name, and verifiers tell the two apart, so for an email subject the
// SAN tag is switched (same length, one byte) in the precertificate sent to
// the CT log and in the final certificate, which is then re-signed with the
// CA key. The SCT stays valid: it covers the patched precertificate.

const isEmail = (subject: string) => subject.includes('@') && !subject.includes(':');

const SAN_OID = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x11]);
const TAG_URI = 0x86;
const TAG_RFC822 = 0x81;

function emailAwareCtLog(ctLog: CTLog): CTLog {
  return {
    publicKey: ctLog.publicKey,
    logID: ctLog.logID,
    log: (precert, issuerId) => ctLog.log(new Uint8Array(uriSanToEmail(Buffer.from(precert))).buffer, issuerId),
  };
}

function readTlv(der: Buffer, offset: number): { contentStart: number; end: number } {
  let length = der.readUInt8(offset + 1);
  let contentStart = offset + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    length = der.readUIntBE(contentStart, octets);
    contentStart += octets;
  }
  return { contentStart, end: contentStart + length };
}

function encodeTlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const length = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, content]);
}

/** Copy of `der` whose first SAN entry, a URI holding an email address, is an rfc822Name instead. */
function uriSanToEmail(der: Buffer): Buffer {
  const oidAt = der.indexOf(SAN_OID);
  if (oidAt < 0) return der;
  let p = oidAt + SAN_OID.length;
  if (der.readUInt8(p) === 0x01) p = readTlv(der, p).end; // the "critical" BOOLEAN
  const names = readTlv(der, readTlv(der, p).contentStart); // OCTET STRING { SEQUENCE OF GeneralName }
  const first = names.contentStart;
  const value = readTlv(der, first);
  if (der.readUInt8(first) !== TAG_URI || !isEmail(der.subarray(value.contentStart, value.end).toString('ascii'))) return der;
  const out = Buffer.from(der);
  out[first] = TAG_RFC822;
  return out;
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }: sign the (patched) TBS again. */
function resign(der: Buffer, caKey: KeyObject): Buffer {
  const certificate = readTlv(der, 0);
  const tbs = readTlv(der, certificate.contentStart);
  const algorithm = readTlv(der, tbs.end);
  const tbsBytes = der.subarray(certificate.contentStart, tbs.end);
  // The mock CA signs with ECDSA P-384 / SHA-384; node's default ECDSA output is DER, as X.509 wants.
  const signature = sign('sha384', tbsBytes, caKey);
  return encodeTlv(0x30, Buffer.concat([tbsBytes, der.subarray(tbs.end, algorithm.end), encodeTlv(0x03, Buffer.concat([Buffer.from([0]), signature]))]));
}

// ---- certificates with chosen SANs ------------------------------------------
// The mock CA writes exactly one URI SAN. Fulcio also issues otherName SANs
// (username identities), so for those the certificate is made here the way
// the mock makes it (same issuer name, extensions, key usage, SCT from the
// same CT log), with the SAN extension encoded as given.

const OID_FULCIO_OTHERNAME = '1.3.6.1.4.1.57264.1.7';

function encodeOid(oid: string): Buffer {
  const [a, b, ...rest] = oid.split('.').map(Number);
  const out = [a! * 40 + b!];
  for (const arc of rest) {
    const bytes = [arc & 0x7f];
    for (let v = arc >>> 7; v > 0; v >>>= 7) bytes.unshift((v & 0x7f) | 0x80);
    out.push(...bytes);
  }
  return encodeTlv(0x06, Buffer.from(out));
}

function generalName(san: SubjectAltName): Buffer {
  if ('uri' in san) return encodeTlv(0x86, Buffer.from(san.uri));
  if ('email' in san) return encodeTlv(0x81, Buffer.from(san.email));
  if ('dns' in san) return encodeTlv(0x82, Buffer.from(san.dns));
  if ('ip' in san) return encodeTlv(0x87, san.ip);
  // OtherName ::= [0] IMPLICIT SEQUENCE { type-id OID, value [0] EXPLICIT UTF8String } (cryptoutils.MarshalOtherNameSAN)
  const value = encodeTlv(0xa0, encodeTlv(0x0c, Buffer.from(san.otherName)));
  return encodeTlv(0xa0, Buffer.concat([encodeOid(san.oid ?? OID_FULCIO_OTHERNAME), value]));
}

async function issueWithSans(
  identity: Identity,
  sans: SubjectAltName[],
  publicKey: KeyObject,
  caKeys: { privateKey: KeyObject; publicKey: KeyObject },
  ct: CTLog | undefined,
  clock: Date | undefined,
): Promise<Buffer> {
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  const subtle = webcrypto.subtle;
  const p384 = { name: 'ECDSA', namedCurve: 'P-384' };
  const signingKey = await subtle.importKey('jwk', caKeys.privateKey.export({ format: 'jwk' }), p384, false, ['sign']);
  const caPublic = await subtle.importKey('jwk', caKeys.publicKey.export({ format: 'jwk' }), p384, true, ['verify']);
  const leaf = await subtle.importKey('spki', publicKey.export({ type: 'spki', format: 'der' }), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
  const now = clock ?? new Date();
  const params = {
    serialNumber: '11182005',
    notBefore: now,
    notAfter: new Date(now.getTime() + 10 * 60_000),
    issuer: 'CN=sigstore,O=sigstore.mock',
    publicKey: leaf,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
    signingKey,
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.codeSigning]),
      new x509.Extension('2.5.29.17', true, new Uint8Array(encodeTlv(0x30, Buffer.concat(sans.map(generalName))))),
      await x509.SubjectKeyIdentifierExtension.create(leaf, false, webcrypto),
      await x509.AuthorityKeyIdentifierExtension.create(caPublic, false, webcrypto),
      new x509.Extension(OID_FULCIO_ISSUER_V1, false, new Uint8Array(Buffer.from(identity.issuerV1 ?? identity.issuer))),
      new x509.Extension(OID_FULCIO_ISSUER_V2, false, new Uint8Array(encodeTlv(0x0c, Buffer.from(identity.issuer)))),
    ],
  };
  if (ct) {
    const precert = await x509.X509CertificateGenerator.create(params, webcrypto);
    const issuerId = createHash('sha256')
      .update(caKeys.publicKey.export({ type: 'spki', format: 'der' }))
      .digest();
    const sct = Buffer.from(await ct.log(precert.rawData, new Uint8Array(issuerId).buffer));
    // The SignedCertificateTimestampList as the mock CA writes it, in an OCTET STRING.
    const list = encodeTlv(0x04, Buffer.concat([Buffer.from([0x00, sct.byteLength]), sct]));
    params.extensions.push(new x509.Extension('1.3.6.1.4.1.11129.2.4.2', false, new Uint8Array(list)));
  }
  return Buffer.from((await x509.X509CertificateGenerator.create(params, webcrypto)).rawData);
}
