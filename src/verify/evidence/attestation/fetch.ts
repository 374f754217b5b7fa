import { isObject } from '../../../json.ts';
import type { Repository } from '../../../registry/types.ts';
import { eachLayer, readCosignTag, readLayer, verificationMaterial } from '../legacy-signature/fetch.ts';

/** The layer media type of `cosign attest` (legacy format): a DSSE envelope (cosign `types.DssePayloadType`). */
export const DSSE_ENVELOPE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';

export interface DsseEnvelope {
  payloadType: string;
  payload: Buffer;
  signatures: { keyid: string; sig: Buffer }[];
}

/** One layer of an image's `.att` manifest, not yet verified. */
export interface LegacyAttestation {
  /** Digest of the layer holding the envelope: names the attestation in verdicts. */
  digest: string;
  envelope: DsseEnvelope;
  certificatePem?: string;
  chainPem?: string;
  /** `dev.sigstore.cosign/bundle`: Rekor's signed entry timestamp and (intoto) entry. */
  rekorBundle?: unknown;
  rfc3161Timestamp?: unknown;
  /** Where it was found: `host/repo:sha256-….att`. */
  source: string;
}

export interface AttestationLookup {
  attestations: LegacyAttestation[];
  problems: string[];
}

/**
 * Reads the attestations cosign stored under the image's `.att` tag: one
 * layer per attestation, each a DSSE envelope, with the certificate, chain
 * and Rekor bundle in the same annotations as a `.sig` layer (the signature
 * annotation is empty: the signature is inside the envelope). A bad layer is
 * reported, not fatal: it can never admit, and the others may verify.
 */
export async function fetchLegacyAttestations(
  repo: Repository,
  imageDigest: string,
  opts: { tagPrefix?: string; maxLayerBytes: number },
): Promise<AttestationLookup> {
  const read = await readCosignTag(repo, imageDigest, 'att', opts.tagPrefix);
  if ('problems' in read) return { attestations: [], problems: read.problems };
  const { source, layers } = read;
  const { found, problems } = await eachLayer(
    layers,
    async (layer, where, problems): Promise<LegacyAttestation | undefined> => {
      const bytes = await readLayer(repo, layer, opts.maxLayerBytes, where, problems);
      if (!bytes) return undefined;
      const envelope = parseEnvelope(bytes);
      if ('error' in envelope) {
        problems.push(`${where}: ${envelope.error}`);
        return undefined;
      }
      return { digest: layer.digest, envelope, source, ...verificationMaterial(layer.annotations ?? {}, where, problems) };
    },
    source,
  );
  return { attestations: found, problems };
}

/** A DSSE envelope as JSON (`payload` and `sig` base64), or why it is not one. */
function parseEnvelope(bytes: Buffer): DsseEnvelope | { error: string } {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { error: 'DSSE envelope is not valid JSON' };
  }
  if (!isObject(json) || typeof json.payloadType !== 'string' || typeof json.payload !== 'string' || !Array.isArray(json.signatures)) {
    return { error: 'not a DSSE envelope (payloadType, payload, signatures)' };
  }
  const payload = base64(json.payload);
  if (!payload) return { error: 'DSSE payload is not base64' };
  const signatures: DsseEnvelope['signatures'] = [];
  for (const s of json.signatures) {
    const sig = isObject(s) && typeof s.sig === 'string' ? base64(s.sig) : undefined;
    if (!sig || sig.length === 0) return { error: 'DSSE signature is missing or not base64' };
    signatures.push({ keyid: isObject(s) && typeof s.keyid === 'string' ? s.keyid : '', sig });
  }
  if (signatures.length === 0) return { error: 'DSSE envelope has no signatures' };
  return { payloadType: json.payloadType, payload, signatures };
}

function base64(s: string): Buffer | undefined {
  const t = s.trim();
  // DSSE allows URL-safe base64 too.
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(t)) return undefined;
  return Buffer.from(t, /[-_]/.test(t) ? 'base64url' : 'base64');
}
