import { sign, X509Certificate, type KeyObject } from 'node:crypto';
import type { SerializedBundle } from '@sigstore/bundle';
import { buildArtifactManifest, MediaTypes, sha256Digest, type BuiltManifest } from './images.ts';
import { CosignAnnotations, type CosignRekorBundle } from './cosign.ts';
import type { Identity, KeylessFixture } from './keyless.ts';

/**
 * Signed in-toto attestations as cosign writes them: `cosign attest` (legacy
 * `.att` tag: one DSSE envelope per layer, certificate and Rekor bundle in
 * annotations) and `cosign attest --new-bundle-format` (a sigstore bundle
 * holding the envelope, attached as an OCI referrer).
 */

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const DSSE_ENVELOPE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
const BUNDLE_V03_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const EMPTY_CONFIG = { mediaType: 'application/vnd.oci.empty.v1+json', bytes: Buffer.from('{}') };

export const PredicateUris = {
  custom: 'https://cosign.sigstore.dev/attestation/v1',
  slsa02: 'https://slsa.dev/provenance/v0.2',
  slsa1: 'https://slsa.dev/provenance/v1',
  spdx: 'https://spdx.dev/Document',
  cyclonedx: 'https://cyclonedx.org/bom',
  vuln: 'https://cosign.sigstore.dev/attestation/vuln/v1',
} as const;

/** An in-toto v1 statement about `digest` (named `name`), as cosign generates it. */
export function inTotoStatement(name: string, digest: string, predicateType: string, predicate: unknown): Buffer {
  return Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name, digest: { sha256: digest.replace(/^sha256:/, '') } }],
      predicateType,
      predicate,
    }),
  );
}

/** Predicates of each kind, small but shaped as their producers write them. */
export const Predicates = {
  slsa02: (builderId = 'https://github.com/actions/runner') => ({
    builder: { id: builderId },
    buildType: 'https://github.com/Attestations/GitHubActionsWorkflow@v1',
    invocation: { configSource: { uri: 'git+https://github.com/acme/app@refs/heads/main', digest: { sha1: 'a'.repeat(40) }, entryPoint: 'build.yml' } },
    materials: [{ uri: 'git+https://github.com/acme/app', digest: { sha1: 'a'.repeat(40) } }],
  }),
  slsa1: (buildType = 'https://actions.github.io/buildtypes/workflow/v1') => ({
    buildDefinition: { buildType, externalParameters: { workflow: { ref: 'refs/heads/main', repository: 'https://github.com/acme/app' } } },
    runDetails: { builder: { id: 'https://github.com/actions/runner/github-hosted' }, metadata: { invocationId: 'run-1' } },
  }),
  spdx: (spdxVersion = 'SPDX-2.3') => ({
    spdxVersion,
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: 'acme-app',
    packages: [{ SPDXID: 'SPDXRef-Package-openssl', name: 'openssl', versionInfo: '3.0.13' }],
  }),
  cyclonedx: (specVersion = '1.5') => ({ bomFormat: 'CycloneDX', specVersion, version: 1, components: [{ type: 'library', name: 'zlib', version: '1.3.1' }] }),
  vuln: (severities: string[]) => ({
    invocation: { parameters: null, uri: 'https://github.com/acme/app/actions/runs/1', event_id: '1', 'builder.id': 'github-actions' },
    scanner: {
      uri: 'pkg:github/aquasecurity/trivy@0.50.0',
      version: '0.50.0',
      db: { uri: '', version: '' },
      result: { Results: [{ Target: 'app', Vulnerabilities: severities.map((Severity, i) => ({ VulnerabilityID: `CVE-2024-${1000 + i}`, Severity })) }] },
    },
    metadata: { scanStartedOn: '2024-05-01T10:00:00Z', scanFinishedOn: '2024-05-01T10:01:00Z' },
  }),
  custom: (data: unknown) => ({ Data: data, Timestamp: '2024-05-01T10:00:00Z' }),
};

/** DSSE v1 pre-authentication encoding: what a DSSE signature signs. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType);
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

/** A DSSE envelope signed by each key (ECDSA and RSA over SHA-256, Ed25519 over the message). */
export function signEnvelope(payload: Buffer, keys: KeyObject[], payloadType = IN_TOTO_PAYLOAD_TYPE): Buffer {
  const pae = preAuthEncoding(payloadType, payload);
  const signatures = keys.map((k) => ({ keyid: '', sig: sign(k.asymmetricKeyType === 'ed25519' ? null : 'sha256', pae, k).toString('base64') }));
  return Buffer.from(JSON.stringify({ payloadType, payload: payload.toString('base64'), signatures }));
}

export interface AttestationLayer {
  /** The DSSE envelope JSON. */
  envelope: Buffer;
  predicateType?: string;
  certificatePem?: string;
  chainPem?: string;
  rekorBundle?: CosignRekorBundle;
}

/** The `.att` image `cosign attest` pushes: one envelope per layer, the signature annotation empty. */
export function attestationManifest(layers: AttestationLayer[]): BuiltManifest {
  const config = {
    architecture: '',
    created: '0001-01-01T00:00:00Z',
    history: layers.map(() => ({ created: '0001-01-01T00:00:00Z' })),
    os: '',
    rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256Digest(l.envelope)) },
    config: {},
  };
  return buildArtifactManifest({
    config: { mediaType: MediaTypes.ociConfig, bytes: Buffer.from(JSON.stringify(config)) },
    layers: layers.map((l) => {
      const annotations: Record<string, string> = { [CosignAnnotations.signature]: '' };
      if (l.predicateType) annotations.predicateType = l.predicateType;
      if (l.certificatePem) {
        annotations[CosignAnnotations.certificate] = l.certificatePem;
        annotations[CosignAnnotations.chain] = l.chainPem ?? '';
      }
      if (l.rekorBundle) annotations[CosignAnnotations.bundle] = JSON.stringify(l.rekorBundle);
      return { mediaType: DSSE_ENVELOPE_MEDIA_TYPE, bytes: l.envelope, annotations };
    }),
  });
}

/** `sha256:abc…` → `sha256-abc….att`. */
export function attestationTag(digest: string): string {
  return `${digest.replace(':', '-')}.att`;
}

/** A legacy attestation layer signed with a key (`cosign attest --key`, no Rekor upload). */
export function keyAttestationLayer(statement: Buffer, key: KeyObject): AttestationLayer {
  return { envelope: signEnvelope(statement, [key]), predicateType: (JSON.parse(statement.toString()) as { predicateType: string }).predicateType };
}

/**
 * A keyless legacy attestation layer: the envelope signed by a test Fulcio
 * certificate and logged in the test Rekor (a `dsse` entry), carried in
 * cosign's certificate and bundle annotations.
 */
export async function keylessAttestationLayer(fixture: KeylessFixture, statement: Buffer, identity: Identity): Promise<AttestationLayer> {
  const bundle = (await fixture.signDsseKeyless(IN_TOTO_PAYLOAD_TYPE, statement, identity)) as unknown as SerializedBundleShape;
  const entry = bundle.verificationMaterial.tlogEntries[0]!;
  const envelope = Buffer.from(
    JSON.stringify({ payloadType: bundle.dsseEnvelope.payloadType, payload: bundle.dsseEnvelope.payload, signatures: bundle.dsseEnvelope.signatures }),
  );
  const certificatePem = new X509Certificate(Buffer.from(bundle.verificationMaterial.certificate.rawBytes, 'base64')).toString();
  return {
    envelope,
    predicateType: (JSON.parse(statement.toString()) as { predicateType: string }).predicateType,
    certificatePem,
    rekorBundle: {
      SignedEntryTimestamp: entry.inclusionPromise.signedEntryTimestamp,
      Payload: {
        body: entry.canonicalizedBody,
        integratedTime: Number(entry.integratedTime),
        logIndex: Number(entry.logIndex),
        logID: Buffer.from(entry.logId.keyId, 'base64').toString('hex'),
      },
    },
  };
}

/** The JSON fields of a v0.3 DSSE bundle this harness reads. */
interface SerializedBundleShape {
  verificationMaterial: {
    certificate: { rawBytes: string };
    tlogEntries: {
      logIndex: string;
      logId: { keyId: string };
      integratedTime: string;
      inclusionPromise: { signedEntryTimestamp: string };
      canonicalizedBody: string;
    }[];
  };
  dsseEnvelope: { payload: string; payloadType: string; signatures: { sig: string; keyid: string }[] };
}

/** `cosign attest --new-bundle-format` keyless: the DSSE bundle from the test sigstore. */
export function keylessAttestationBundle(fixture: KeylessFixture, statement: Buffer, identity: Identity): Promise<SerializedBundle> {
  return fixture.signDsseKeyless(IN_TOTO_PAYLOAD_TYPE, statement, identity);
}

/** `cosign attest --new-bundle-format --key` without a log: a v0.3 bundle naming the key by hint. */
export function keyAttestationBundle(statement: Buffer, key: KeyObject, hint = 'test-key'): Record<string, unknown> {
  const envelope = JSON.parse(signEnvelope(statement, [key]).toString()) as Record<string, unknown>;
  return {
    mediaType: BUNDLE_V03_MEDIA_TYPE,
    verificationMaterial: { publicKey: { hint }, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } },
    dsseEnvelope: envelope,
  };
}

/** The referrer artifact holding an attestation bundle, with the image as its subject. */
export function attestationReferrer(subject: BuiltManifest, bundle: SerializedBundle | Record<string, unknown>, predicateType: string): BuiltManifest {
  return buildArtifactManifest({
    artifactType: BUNDLE_V03_MEDIA_TYPE,
    subject,
    annotations: { 'dev.sigstore.bundle.content': 'dsse-envelope', 'dev.sigstore.bundle.predicateType': predicateType },
    config: EMPTY_CONFIG,
    layers: [{ mediaType: BUNDLE_V03_MEDIA_TYPE, bytes: Buffer.from(JSON.stringify(bundle)) }],
  });
}
