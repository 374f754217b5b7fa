import type { TrustMaterial } from '@sigstore/verify';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parsePolicyDocuments } from '../../src/policy/parse.ts';
import type { ClusterImagePolicy } from '../../src/policy/types.ts';
import type { Verdict } from '../../src/verify/verdict.ts';
import { verifyImage } from '../../src/verify/verify-image.ts';
import { parseImageTarget } from '../../src/registry/target.ts';
import { sha256Digest, type BuiltManifest } from '../support/index.ts';
import { testTrustRoots } from '../support/trust-roots.ts';

/**
 * The corpus's hostile registry content is served from an OCI image layout
 * (what `cosign save` writes), whose reader applies the same manifest and
 * digest checks as the registry client, and verified with the real
 * `verifyImage`: the verdict must be a deny whose reasons say why.
 */

export interface StoredManifest {
  tag?: string;
  mediaType: string;
  bytes: Buffer;
  /** Extra index.json descriptor fields (referrers listed with their artifactType). */
  artifactType?: string;
}

/** Writes a layout holding `manifests` (listed in index.json) and `blobs` (content only). */
export async function writeLayout(dir: string, manifests: StoredManifest[], blobs: Buffer[]): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const bytes of [...blobs, ...manifests.map((m) => m.bytes)]) {
    await writeFile(join(dir, 'blobs', 'sha256', sha256Digest(bytes).slice('sha256:'.length)), bytes);
  }
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: manifests.map((m) => ({
      mediaType: m.mediaType,
      digest: sha256Digest(m.bytes),
      size: m.bytes.length,
      ...(m.artifactType ? { artifactType: m.artifactType } : {}),
      ...(m.tag ? { annotations: { 'org.opencontainers.image.ref.name': m.tag } } : {}),
    })),
  };
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
}

/** The image and all its own blobs, tagged `app`. */
export function imageEntries(image: BuiltManifest): { manifest: StoredManifest; blobs: Buffer[] } {
  return { manifest: { tag: 'app', mediaType: image.mediaType, bytes: image.bytes }, blobs: image.blobs.map((b) => b.bytes) };
}

export function loadPolicy(yaml: string): ClusterImagePolicy {
  const parsed = parsePolicyDocuments(yaml, { file: 'corpus-policy.yaml' });
  if (parsed.policies.length !== 1) throw new Error(`corpus policy did not load: ${JSON.stringify(parsed.problems)}`);
  return parsed.policies[0]!;
}

export function keylessPolicyYaml(issuer: string, subject: string): string {
  return `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: corpus-keyless}
spec:
  images: [{glob: "**"}]
  authorities:
  - name: release-workflow
    keyless:
      url: https://fulcio.example.com
      identities: [{issuer: "${issuer}", subject: "${subject}"}]
`;
}

/** verifyImage on `oci:DIR:app` with one policy; no registry may be contacted. */
export function verifyLayout(dir: string, policy: ClusterImagePolicy, trust?: TrustMaterial): Promise<Verdict> {
  return verifyImage(parseImageTarget(`oci:${dir}:app`), () => [policy], {
    trustRootResolver: testTrustRoots(),
    registry: () => {
      throw new Error('the corpus never reaches a registry');
    },
    ...(trust ? { trust: () => trust } : {}),
  });
}

/** Every reason in a verdict, policy and authority reasons included, one per line. */
export function verdictText(v: Verdict): string {
  return [...v.reasons, ...v.policies.flatMap((p) => [p.reason ?? '', ...p.authorities.map((a) => a.reason)])].join('\n');
}
