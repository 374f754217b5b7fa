import { endsEvidenceRead, readEach } from '../budget.ts';
import type { Descriptor, ImageManifest, Repository } from '../../../registry/types.ts';
import type { CosignSignature, SignatureLookup } from './types.ts';
import { VerificationError } from '../../errors.ts';
import { parseEvidenceJson, refuseGoFieldVariants, type GoStruct } from '../strict-json.ts';

/** cosign's annotations on a signature layer (cosign `pkg/oci/static`). */
const ANNOTATIONS = {
  signature: 'dev.cosignproject.cosign/signature',
  certificate: 'dev.sigstore.cosign/certificate',
  chain: 'dev.sigstore.cosign/chain',
  bundle: 'dev.sigstore.cosign/bundle',
  rfc3161Timestamp: 'dev.sigstore.cosign/rfc3161timestamp',
} as const;

const MAX_SIGNATURE_LAYERS = 1000;

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';

/** `sha256:abc…` → `sha256-abc….sig`, cosign's tag for an image's signatures. */
function legacySignatureTag(digest: string, suffix: 'sig' | 'att' = 'sig', tagPrefix = ''): string {
  return `${tagPrefix}${digest.replace(':', '-')}.${suffix}`;
}

/**
 * The layers of the manifest cosign stores under an image's `.sig` or `.att`
 * tag, with where they were found; no layers when there is no such tag. An
 * index, or more layers than cosign itself accepts, is a problem, not layers.
 */
export async function readCosignTag(
  repo: Repository,
  imageDigest: string,
  suffix: 'sig' | 'att',
  tagPrefix: string | undefined,
): Promise<{ source: string; layers: ImageManifest['layers'] } | { problems: string[] }> {
  const tag = legacySignatureTag(imageDigest, suffix, tagPrefix);
  const source = `${repo.location}:${tag}`;
  const manifest = await repo.getManifest(tag);
  if (!manifest) return { source, layers: [] };
  const kind = suffix === 'sig' ? 'a signature' : 'an attestation';
  if (!('layers' in manifest.json)) return { problems: [`${source}: is an index, expected ${kind} manifest`] };
  // cosign refuses more (pkg/oci/remote maxLayers): each layer costs a blob fetch and a verification.
  if (manifest.json.layers.length > MAX_SIGNATURE_LAYERS) {
    return { problems: [`${source}: ${manifest.json.layers.length} layers, more than the ${MAX_SIGNATURE_LAYERS} cosign accepts in ${kind} manifest`] };
  }
  return { source, layers: manifest.json.layers };
}

/**
 * Reads the signatures cosign stored under the image's `.sig` tag. A layer that
 * cannot be a signature is reported, not fatal: the others may still verify,
 * and a bad layer can never admit.
 */
export async function fetchLegacySignatures(
  repo: Repository,
  imageDigest: string,
  opts: { tagPrefix?: string; maxLayerBytes: number },
): Promise<SignatureLookup> {
  const read = await readCosignTag(repo, imageDigest, 'sig', opts.tagPrefix);
  if ('problems' in read) return { signatures: [], problems: read.problems };
  const { source, layers } = read;
  const { found, problems } = await eachLayer(
    layers,
    async (layer, where, problems): Promise<CosignSignature | undefined> => {
      const annotations = layer.annotations ?? {};
      const b64 = annotations[ANNOTATIONS.signature];
      if (b64 === undefined) {
        problems.push(`${where}: no ${ANNOTATIONS.signature} annotation`);
        return undefined;
      }
      const signature = decodeBase64(b64);
      if (!signature) {
        problems.push(`${where}: signature annotation is not base64`);
        return undefined;
      }
      const payload = await readLayer(repo, layer, opts.maxLayerBytes, where, problems);
      if (!payload) return undefined;
      return { digest: layer.digest, payload, signature, ...verificationMaterial(annotations, where, problems), source };
    },
    source,
  );
  return { signatures: found, problems };
}

/**
 * `read` over each layer, a few at a time (readEach), with what it found
 * and the problems it noted kept in the layers' order. An error that ends
 * the read (endsEvidenceRead) ends it for all.
 */
export async function eachLayer<T>(
  layers: readonly Descriptor[],
  read: (layer: Descriptor, where: string, problems: string[]) => Promise<T | undefined>,
  source: string,
): Promise<{ found: T[]; problems: string[] }> {
  const results = await readEach(layers, async (layer, i) => {
    const problems: string[] = [];
    return { value: await read(layer, `${source} layer ${i}`, problems), problems };
  });
  return { found: results.flatMap((r) => (r.value === undefined ? [] : [r.value])), problems: results.flatMap((r) => r.problems) };
}

/** A layer's blob, or undefined with the reason in `problems`; an unreachable registry is the caller's to report. */
export async function readLayer(repo: Repository, layer: Descriptor, maxBytes: number, where: string, problems: string[]): Promise<Buffer | undefined> {
  try {
    return await repo.getBlob(layer, maxBytes);
  } catch (err) {
    if (endsEvidenceRead(err)) throw err;
    problems.push(`${where}: ${(err as Error).message}`);
    return undefined;
  }
}

/** What a `.sig` or `.att` layer's annotations carry for keyless verification; only the fields present. */
export function verificationMaterial(
  annotations: Record<string, string>,
  where: string,
  problems: string[],
): { certificatePem?: string; chainPem?: string; rekorBundle?: unknown; rfc3161Timestamp?: unknown } {
  const out: { certificatePem?: string; chainPem?: string; rekorBundle?: unknown; rfc3161Timestamp?: unknown } = {};
  if (annotations[ANNOTATIONS.certificate]) out.certificatePem = annotations[ANNOTATIONS.certificate];
  if (annotations[ANNOTATIONS.chain]) out.chainPem = annotations[ANNOTATIONS.chain];
  const bundle = parseJsonAnnotation(annotations[ANNOTATIONS.bundle], 'bundle annotation', REKOR_BUNDLE, where, problems);
  if (bundle !== undefined) out.rekorBundle = bundle;
  const timestamp = parseJsonAnnotation(annotations[ANNOTATIONS.rfc3161Timestamp], 'timestamp annotation', RFC3161_TIMESTAMP, where, problems);
  if (timestamp !== undefined) out.rfc3161Timestamp = timestamp;
  return out;
}

/** cosign's `bundle.RekorBundle` and `bundle.RFC3161Timestamp` (pkg/cosign/bundle), read with Go's encoding/json. */
const REKOR_BUNDLE: GoStruct = { SignedEntryTimestamp: null, Payload: { body: null, integratedTime: null, logIndex: null, logID: null } };
const RFC3161_TIMESTAMP: GoStruct = { SignedRFC3161Timestamp: null };

function decodeBase64(s: string): Buffer | undefined {
  const t = s.trim();
  if (t === '' || !/^[A-Za-z0-9+/]*={0,2}$/.test(t) || t.length % 4 !== 0) return undefined;
  return Buffer.from(t, 'base64');
}

/** An annotation's JSON as cosign reads it (no key twice, no case variant of its fields), or undefined with the problem. */
function parseJsonAnnotation(value: string | undefined, what: string, shape: GoStruct, where: string, problems: string[]): unknown {
  if (value === undefined || value === '') return undefined;
  try {
    const json = parseEvidenceJson(value, what);
    refuseGoFieldVariants(json, shape, what);
    return json;
  } catch (err) {
    if (!(err instanceof VerificationError)) throw err;
    problems.push(`${where}: ${err.message}`);
    return undefined;
  }
}
