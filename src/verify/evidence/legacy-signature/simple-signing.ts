import { isObject } from '../../../json.ts';
import { VerificationError } from '../../errors.ts';
import { parseEvidenceJson, refuseGoFieldVariants, type GoStruct } from '../strict-json.ts';

/**
 * cosign's `payload.SimpleContainerImage` (sigstore `pkg/signature/payload`),
 * which it reads with Go's encoding/json; `optional` is a Go map (exact keys).
 */
const SIMPLE_CONTAINER_IMAGE: GoStruct = {
  critical: { identity: { 'docker-reference': null }, image: { 'docker-manifest-digest': null }, type: null },
  optional: null,
};

/** `critical.type` of a cosign signature payload (sigstore `payload.CosignSignatureType`). */
const COSIGN_SIGNATURE_TYPE = 'cosign container image signature';

/**
 * The digest a cosign simple-signing payload vouches for
 * (`critical.image.docker-manifest-digest`); throws a VerificationError when
 * the payload is unusable. The docker-reference is deliberately not compared,
 * as cosign does not: images are signed once and copied between registries.
 *
 * Parser differentials are refused rather than resolved: a key twice, or a
 * key that Go would read as one of cosign's fields but that is not spelled as
 * it (`"Docker-Manifest-Digest"` beside `"docker-manifest-digest"`, or even
 * `"doc\u212Aer-…"` with the Kelvin sign), could make cosign read another
 * digest than this code does, so the payload is malformed.
 */
export function signedDigest(payload: Buffer): string {
  const json = parseEvidenceJson(payload.toString('utf8'), 'simple-signing payload');
  refuseGoFieldVariants(json, SIMPLE_CONTAINER_IMAGE, 'simple-signing payload');
  const critical = isObject(json) ? json.critical : undefined;
  const image = isObject(critical) ? critical.image : undefined;
  const digest = isObject(image) ? image['docker-manifest-digest'] : undefined;
  if (typeof digest !== 'string') throw new VerificationError('EVIDENCE_MALFORMED', 'payload has no critical.image.docker-manifest-digest');
  const type = isObject(critical) ? critical.type : undefined;
  if (typeof type === 'string' && type !== COSIGN_SIGNATURE_TYPE) {
    throw new VerificationError('SUBJECT_MISMATCH', `payload type "${type.slice(0, 80)}" is not a cosign container image signature`);
  }
  return digest;
}

/**
 * The payload `cosign sign` signs for `repositoryName@digest` when given no
 * `-a` annotations, byte for byte: Go's json.Marshal of sigstore's
 * `payload.Cosign` (`pkg/signature/payload`), whose docker-reference is
 * go-containerregistry's `Repository.Name()`. JSON.stringify writes the same
 * bytes here: a repository name and a digest hold no character Go escapes.
 */
export function cosignPayload(repositoryName: string, digest: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: { identity: { 'docker-reference': repositoryName }, image: { 'docker-manifest-digest': digest }, type: COSIGN_SIGNATURE_TYPE },
      optional: null,
    }),
  );
}
