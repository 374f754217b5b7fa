import type { KeyObject } from 'node:crypto';
import { legacySignatureManifest, signatureTag, signPayload, simpleSigningPayload } from './cosign.ts';
import { buildImage, type BuiltManifest } from './images.ts';
import { writeOciLayout } from './layout.ts';
import { pushManifest, type TestRegistry } from './registry.ts';

/**
 * The images every end-to-end check and the demo use: one properly signed,
 * and one for each way a signature can fail to vouch for an image.
 */
export interface Sample {
  tag: string;
  description: string;
  image: BuiltManifest;
  /** The manifest stored at the image's `sha256-<hex>.sig` tag, if any. */
  signature?: BuiltManifest;
  expected: 'admit' | 'deny';
}

export function buildSamples(opts: { dockerReference: string; key: KeyObject; otherKey: KeyObject }): Sample[] {
  const { dockerReference, key, otherKey } = opts;
  const sign = (image: BuiltManifest, k: KeyObject) => {
    const payload = simpleSigningPayload(dockerReference, image.digest);
    return legacySignatureManifest([{ payload, signature: signPayload(payload, k) }]);
  };
  const signed = buildImage({ seed: 'signed' });
  const copied = buildImage({ seed: 'copied' });
  const tamperedImage = buildImage({ seed: 'tampered' });
  const tamperedPayload = simpleSigningPayload(dockerReference, tamperedImage.digest);
  const tamperedSignature = signPayload(tamperedPayload, key);
  const wrongKey = buildImage({ seed: 'wrong-key' });
  return [
    { tag: 'signed', description: 'signed with the policy key', image: signed, signature: sign(signed, key), expected: 'admit' },
    { tag: 'unsigned', description: 'no signature at all', image: buildImage({ seed: 'unsigned' }), expected: 'deny' },
    {
      tag: 'copied',
      description: "another image's valid signature copied to this one",
      image: copied,
      signature: sign(signed, key),
      expected: 'deny',
    },
    {
      tag: 'tampered',
      description: 'payload changed after signing',
      image: tamperedImage,
      signature: legacySignatureManifest([{ payload: Buffer.concat([tamperedPayload, Buffer.from(' ')]), signature: tamperedSignature }]),
      expected: 'deny',
    },
    { tag: 'wrong-key', description: 'signed with a key the policy does not trust', image: wrongKey, signature: sign(wrongKey, otherKey), expected: 'deny' },
  ];
}

export async function pushSamples(reg: TestRegistry, repo: string, samples: Sample[]): Promise<void> {
  for (const s of samples) {
    await pushManifest(reg, repo, s.tag, s.image);
    if (s.signature) await pushManifest(reg, repo, signatureTag(s.image.digest), s.signature);
  }
}

export async function writeSamplesLayout(dir: string, samples: Sample[]): Promise<void> {
  await writeOciLayout(
    dir,
    samples.flatMap((s) => [{ tag: s.tag, manifest: s.image }, ...(s.signature ? [{ tag: signatureTag(s.image.digest), manifest: s.signature }] : [])]),
  );
}

/** A ClusterImagePolicy requiring a signature by `publicKeyPem` for images matching `glob`. */
export function keyPolicyYaml(name: string, glob: string, publicKeyPem: string): string {
  const pem = yamlBlock(publicKeyPem);
  return `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: ${name}
spec:
  images:
    - glob: "${glob}"
  authorities:
    - name: release-key
      key:
        data: |
${pem}
`;
}

/** A ClusterImagePolicy of one `key.kms` authority (`awskms://[ENDPOINT]/ARN`) for `glob`. */
export function kmsPolicyYaml(name: string, glob: string, kms: string, authority = 'kms-key'): string {
  return `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: ${name}}
spec:
  images: [{glob: "${glob}"}]
  authorities:
  - name: ${authority}
    key: {kms: "${kms}"}
`;
}

/** PEM text indented to sit under `data: |` of an authority's key in the policies tests write. */
export function yamlBlock(text: string, indent = 10): string {
  return text
    .trim()
    .split('\n')
    .map((l) => `${' '.repeat(indent)}${l}`)
    .join('\n');
}

/** A ClusterImagePolicy that admits whatever its glob matches: for tests about loading and matching, not signatures. */
export function staticPolicyYaml(name: string, glob = '**'): string {
  return `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: ${name}}
spec:
  images: [{glob: "${glob}"}]
  authorities: [{static: {action: pass}}]
`;
}
