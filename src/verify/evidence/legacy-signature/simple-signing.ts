import { isObject } from '../../../json.ts';

/**
 * The digest a cosign simple-signing payload vouches for
 * (`critical.image.docker-manifest-digest`), or why the payload is unusable.
 * The docker-reference is deliberately not compared, as cosign does not:
 * images are signed once and copied between registries.
 */
export function signedDigest(payload: Buffer): { digest: string } | { error: string } {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    return { error: 'payload is not valid JSON' };
  }
  const critical = isObject(json) ? json.critical : undefined;
  const image = isObject(critical) ? critical.image : undefined;
  const digest = isObject(image) ? image['docker-manifest-digest'] : undefined;
  if (typeof digest !== 'string') return { error: 'payload has no critical.image.docker-manifest-digest' };
  const type = isObject(critical) ? critical.type : undefined;
  if (typeof type === 'string' && type !== 'cosign container image signature') {
    return { error: `payload type "${type}" is not a cosign container image signature` };
  }
  return { digest };
}
