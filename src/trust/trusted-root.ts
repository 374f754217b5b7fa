import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial, type TrustMaterial } from '@sigstore/verify';
import seeds from '@sigstore/tuf/seeds.json' with { type: 'json' };
import { readJsonFile } from '../config-file.ts';
import { SigwatchError } from '../errors.ts';

/**
 * Trust material for keyless verification: the sigstore public-good root that
 * ships inside the `@sigstore/tuf` package (so verification works offline and
 * air-gapped), or a `TrustedRoot` JSON the operator names.
 */

export const PUBLIC_GOOD_MIRROR = 'https://tuf-repo-cdn.sigstore.dev';

type Seeds = Record<string, { 'root.json': string; targets: Record<string, string> }>;

/** The TUF root.json of the public-good repository shipped with `@sigstore/tuf`: where a refresh starts. */
export function publicGoodTufRoot(): Buffer {
  const root = (seeds as Seeds)[PUBLIC_GOOD_MIRROR]?.['root.json'];
  if (!root) throw new SigwatchError('INTERNAL', 'the shipped public-good TUF root is missing from @sigstore/tuf');
  return Buffer.from(root, 'base64');
}

let publicGood: TrustMaterial | undefined;

export function publicGoodTrustMaterial(): TrustMaterial {
  if (!publicGood) {
    const target = (seeds as Seeds)[PUBLIC_GOOD_MIRROR]?.targets['trusted_root.json'];
    if (!target) throw new SigwatchError('INTERNAL', 'the shipped public-good trusted root is missing from @sigstore/tuf');
    publicGood = trustMaterialFromJson(JSON.parse(Buffer.from(target, 'base64').toString('utf8')), 'the public-good trusted root');
  }
  return publicGood;
}

export function trustMaterialFromJson(json: unknown, where: string): TrustMaterial {
  try {
    const root = TrustedRoot.fromJSON(json);
    if (root.certificateAuthorities.length === 0 && root.tlogs.length === 0) {
      throw new SigwatchError('TRUST_ROOT', 'it lists no certificate authorities and no transparency logs');
    }
    return toTrustMaterial(root);
  } catch (err) {
    throw new SigwatchError('CONFIG', `${where} is not a usable sigstore TrustedRoot: ${(err as Error).message}`);
  }
}

export async function loadTrustedRootFile(path: string): Promise<TrustMaterial> {
  return trustMaterialFromJson(await readJsonFile(path, 'trusted root'), `trusted root ${path}`);
}
