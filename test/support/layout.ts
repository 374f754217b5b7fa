import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { legacySignatureManifest, signatureTag, simpleSigningPayload } from './cosign.ts';
import { buildImage, MediaTypes, type BuiltManifest, type Descriptor } from './images.ts';
import type { Identity, KeylessFixture } from './keyless.ts';

const REF_NAME = 'org.opencontainers.image.ref.name';

/**
 * Writes an OCI image layout as `cosign save`, oras and skopeo do: every
 * manifest (children included), config and layer under `blobs/sha256/`, and
 * an `index.json` listing the entries, tagged ones with a ref.name annotation.
 */
export async function writeOciLayout(dir: string, entries: { tag?: string; manifest: BuiltManifest }[]): Promise<void> {
  const blobDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  const blobs = new Map<string, Buffer>();
  const collect = (m: BuiltManifest) => {
    blobs.set(m.digest, m.bytes);
    m.blobs.forEach((b) => blobs.set(b.digest, b.bytes));
    m.children?.forEach(collect);
  };
  entries.forEach((e) => collect(e.manifest));
  for (const [digest, bytes] of blobs) await writeFile(join(blobDir, digest.replace(/^sha256:/, '')), bytes);

  const index = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociIndex,
    manifests: entries.map(({ tag, manifest }) => {
      const descriptor: Descriptor = { mediaType: manifest.mediaType, size: manifest.bytes.length, digest: manifest.digest };
      if (tag !== undefined) descriptor.annotations = { [REF_NAME]: tag };
      return descriptor;
    }),
  };
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
}

/**
 * `cosign sign` keyless with the test Fulcio/CT/Rekor, then `cosign save`: an
 * image tagged `signed` and its `.sig` manifest in an OCI layout at `dir`.
 */
export async function writeKeylessSignedLayout(
  dir: string,
  fixture: KeylessFixture,
  opts: { seed: string; identity: Identity; dockerReference?: string },
): Promise<BuiltManifest> {
  const image = buildImage({ seed: opts.seed });
  const payload = simpleSigningPayload(opts.dockerReference ?? 'registry.example.com/acme/app', image.digest);
  const s = await fixture.signKeyless(payload, opts.identity);
  await writeOciLayout(dir, [
    { tag: 'signed', manifest: image },
    {
      tag: signatureTag(image.digest),
      manifest: legacySignatureManifest([
        { payload, signature: s.signature, certificatePem: s.certificatePem, chainPem: s.chainPem, rekorBundle: s.rekorBundle },
      ]),
    },
  ]);
  return image;
}

/**
 * The layout `cosign save` (v3) leaves: index.json lists the image, its
 * `.sig` and `.att` images by a `kind` annotation (no tags), and each referrer
 * (bundle) was written as a layout of its own into the same folder, so only
 * its blobs remain; cosign's verifier finds them by scanning `blobs/`.
 */
export async function writeCosignSaveLayout(
  dir: string,
  entries: { image: BuiltManifest; sigs?: BuiltManifest; atts?: BuiltManifest; referrers?: BuiltManifest[] },
): Promise<void> {
  const listed: { kind: string; manifest: BuiltManifest }[] = [{ kind: 'dev.cosignproject.cosign/image', manifest: entries.image }];
  if (entries.sigs) listed.push({ kind: 'dev.cosignproject.cosign/sigs', manifest: entries.sigs });
  if (entries.atts) listed.push({ kind: 'dev.cosignproject.cosign/atts', manifest: entries.atts });
  await writeOciLayout(dir, [...listed.map((l) => ({ manifest: l.manifest })), ...(entries.referrers ?? []).map((manifest) => ({ manifest }))]);
  const index = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociIndex,
    manifests: listed.map(({ kind, manifest }) => ({
      mediaType: manifest.mediaType,
      size: manifest.bytes.length,
      digest: manifest.digest,
      annotations: { kind },
    })),
  };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
}
