import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../src/registry/client.ts';
import { parseImageTarget } from '../../src/registry/target.ts';
import { buildPolicySet, policiesMatching } from '../../src/store/policy-set.ts';
import { loadTrustedRootFile } from '../../src/trust/trusted-root.ts';
import { verifyImage, type VerifyDeps } from '../../src/verify/verify-image.ts';
import {
  buildImage,
  createKeylessFixture,
  generateKeyPair,
  keyPolicyYaml,
  legacySignatureManifest,
  pushManifest,
  signatureTag,
  signPayload,
  simpleSigningPayload,
  startRegistry,
  type BuiltManifest,
  type KeylessFixture,
  type TestRegistry,
} from '../support/index.ts';
import { testNow } from '../support/clock.ts';
import { testTrustRoots } from '../support/trust-roots.ts';

/**
 * A `.sig` layer holding exactly the payload `cosign sign` writes for the
 * image (no `-a` annotations, the image's own repository name) is verified
 * without fetching its blob: verifyImage offers those bytes to the evidence
 * budget, and a layer whose digest they hash to is them. Everything else is
 * fetched as before. Real docker-registry; requests counted by kind.
 */

const GITHUB = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1';
const REPO = 'team/app';
const key = generateKeyPair();
const otherKey = generateKeyPair();
const work = mkdtempSync(join(tmpdir(), 'sigwatch-offered-'));
let reg: TestRegistry;
let fixture: KeylessFixture;
let deps: VerifyDeps;
let client: RegistryClient;
const images = new Map<string, BuiltManifest>();

/** The payload cosign signs for `${reg.host}/team/app@digest`, with `-a n=…` when `annotation` is given. */
function payloadFor(digest: string, opts: { reference?: string; annotation?: string } = {}): Buffer {
  const plain = simpleSigningPayload(opts.reference ?? `${reg.host}/${REPO}`, digest);
  if (opts.annotation === undefined) return plain;
  const json = JSON.parse(plain.toString('utf8')) as Record<string, unknown>;
  return Buffer.from(JSON.stringify({ ...json, optional: { n: opts.annotation } }));
}

before(async () => {
  reg = await startRegistry();
  fixture = await createKeylessFixture();
  const rootFile = join(work, 'trusted_root.json');
  await fixture.writeTrustedRoot(rootFile);
  const trust = await loadTrustedRootFile(rootFile);
  const keyless = await fixture.signer({ issuer: GITHUB, subject: WORKFLOW });
  const add = async (tag: string, layer: (digest: string) => Promise<Parameters<typeof legacySignatureManifest>[0][number]>) => {
    const image = buildImage({ seed: `offered-${tag}` });
    await pushManifest(reg, REPO, tag, image);
    await pushManifest(reg, REPO, signatureTag(image.digest), legacySignatureManifest([await layer(image.digest)]));
    images.set(tag, image);
  };
  const keyed = (payload: Buffer, signer = key.privateKey) => ({ payload, signature: signPayload(payload, signer) });
  await add('plain', async (d) => keyed(payloadFor(d)));
  await add('annotated', async (d) => keyed(payloadFor(d, { annotation: '1' })));
  await add('copied', async (d) => keyed(payloadFor(d, { reference: 'registry.example.com/team/app' })));
  await add('other-key', async (d) => keyed(payloadFor(d), otherKey.privateKey));
  await add('keyless', async (d) => {
    const payload = payloadFor(d);
    const s = await keyless.sign(payload);
    return { payload, signature: s.signature, certificatePem: s.certificatePem, chainPem: s.chainPem, rekorBundle: s.rekorBundle };
  });
  const set = buildPolicySet([{ text: keyPolicyYaml('keyed', `${reg.host}/${REPO}*`, key.publicKeyPem), file: 'keyed.yaml' }]);
  const keylessSet = buildPolicySet([
    {
      text: `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: keyless}
spec:
  images: [{glob: "**"}]
  authorities:
    - keyless:
        url: https://fulcio.sigstore.dev
        identities: [{issuer: "${GITHUB}", subject: "${WORKFLOW}"}]
`,
      file: 'keyless.yaml',
    },
  ]);
  sets = { keyed: set, keyless: keylessSet };
  client = new RegistryClient({ now: testNow, insecureHosts: [reg.host] });
  deps = { registry: (r) => client.repository(r), trust: () => trust, trustRootResolver: testTrustRoots() };
});
let sets: Record<'keyed' | 'keyless', ReturnType<typeof buildPolicySet>>;
after(async () => {
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** The verdict of `tag` by digest, and the requests it made by kind. */
async function verify(tag: string, policies: 'keyed' | 'keyless' = 'keyed') {
  const image = images.get(tag)!;
  client.http.counter.reset();
  const verdict = await verifyImage(
    parseImageTarget(`${reg.host}/${REPO}@${image.digest}`),
    (name, literal) => policiesMatching(sets[policies], name, { literal }),
    deps,
  );
  return { verdict, requests: Object.fromEntries(client.http.counter.byKind) as Record<string, number> };
}

describe('the payload cosign signs for the image is not fetched', () => {
  it("admits a key signature over it without the layer's blob request", async () => {
    const { verdict, requests } = await verify('plain');
    assert.equal(verdict.verdict, 'admit', verdict.reasons.join('; '));
    assert.equal(requests.blob, undefined, JSON.stringify(requests));
    // By digest, the first verification of this client: the referrers API (docker-registry has none), its fallback tag, the `.sig` manifest; no blob.
    assert.deepEqual(requests, { referrers: 1, manifest: 2 });
  });

  it('admits a keyless signature over it (certificate, chain, Rekor entry) without the blob request', async () => {
    const { verdict, requests } = await verify('keyless', 'keyless');
    assert.equal(verdict.verdict, 'admit', verdict.reasons.join('; '));
    assert.equal(requests.blob, undefined, JSON.stringify(requests));
  });

  it('denies a signature over it made with another key, as when the blob is fetched', async () => {
    const { verdict, requests } = await verify('other-key');
    assert.equal(verdict.verdict, 'deny');
    assert.match(verdict.reasons.join('; '), /does not verify with the authority's key/);
    assert.equal(requests.blob, undefined);
  });
});

describe('any other payload is fetched', () => {
  it('fetches an annotated payload (cosign sign -a) and admits it', async () => {
    const { verdict, requests } = await verify('annotated');
    assert.equal(verdict.verdict, 'admit', verdict.reasons.join('; '));
    assert.equal(requests.blob, 1, JSON.stringify(requests));
  });

  it('fetches a payload naming another repository (an image signed elsewhere and copied) and admits it, as cosign does', async () => {
    const { verdict, requests } = await verify('copied');
    assert.equal(verdict.verdict, 'admit', verdict.reasons.join('; '));
    assert.equal(requests.blob, 1, JSON.stringify(requests));
  });
});
