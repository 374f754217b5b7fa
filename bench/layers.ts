/**
 * A `.sig` with many layers against one with a single layer: what a
 * verification costs when an image has been signed a hundred times (distinct
 * payloads: cosign `sign -a` annotations, each signature its own layer) and
 * when one payload appears a hundred times (identical blobs, fetched once).
 *
 * Warm client, by digest, keyed policy, docker-registry on 127.0.0.1; each
 * round uses its own image of every kind so no blob is served from a warm
 * path the other kinds do not get. The three kinds are sampled in turn
 * (1, 100, 100 identical; the order rotating each round), and printed as
 * median with the 25th–75th percentile spread. Writes `layers` into
 * bench/results.json.
 *
 * Beside each kind, in the same rounds, its floor: the same requests made raw
 * on a keep-alive agent (the referrers tag, the `.sig` manifest, then its
 * distinct blobs 8 at a time, as sigwatch reads them) and one `crypto.verify`
 * a layer, on images of its own. And docker-registry's CPU per image: every
 * blob GET allocates a 4 MiB read buffer (distribution's
 * registry/storage/filereader.go), which on two shared cores is what bounds
 * the 100-layer time, for the floor as for sigwatch.
 */
import { createPublicKey, verify } from 'node:crypto';
import { systemClock } from '../src/clock.ts';
import { buildPolicySet, policiesMatching } from '../src/store/policy-set.ts';
import { RegistryClient } from '../src/registry/client.ts';
import { parseImageTarget } from '../src/registry/target.ts';
import { verifyImage } from '../src/verify/verify-image.ts';
import { mapLimit } from '../src/map-limit.ts';
import { TrustRootResolver } from '../src/trust/trust-roots.ts';
import {
  buildImage,
  generateKeyPair,
  keyPolicyYaml,
  legacySignatureManifest,
  pushManifest,
  signatureTag,
  signPayload,
  startRegistry,
} from '../test/support/index.ts';
import { referrersTag } from '../src/registry/referrers.ts';
import { EVIDENCE_READ_CONCURRENCY } from '../src/verify/evidence/budget.ts';
import { rawRegistry, summary, writeResults, type SignatureLayers } from './support.ts';

const ROUNDS = Number(process.env.BENCH_LAYER_ROUNDS ?? 40);
const LAYERS = 100;
const KINDS = ['1 layer', `${LAYERS} distinct layers`, `${LAYERS} identical layers`] as const;
/** Each round verifies one image of every kind with sigwatch and fetches another of every kind raw. */
const SIDES = ['sigwatch', 'floor'] as const;
const MANIFEST_ACCEPT = 'application/vnd.oci.image.manifest.v1+json,application/vnd.oci.image.index.v1+json';

/** The payload `cosign sign -a n=<i>` signs: the annotation makes each signature's payload its own. */
function payload(reference: string, digest: string, n: number): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: { identity: { 'docker-reference': reference }, image: { 'docker-manifest-digest': digest }, type: 'cosign container image signature' },
      optional: { n: String(n) },
    }),
  );
}

const reg = await startRegistry();
try {
  const key = generateKeyPair();
  const repo = `${reg.host}/bench/layers`;
  const images = await mapLimit(
    Array.from({ length: ROUNDS * KINDS.length * SIDES.length }, (_, i) => i),
    8,
    async (i) => {
      const kind = Math.floor(i / SIDES.length) % KINDS.length;
      const image = buildImage({ seed: `bench-layers-${i}` });
      const payloads =
        kind === 0 ? [payload(repo, image.digest, 0)] : Array.from({ length: LAYERS }, (_, n) => payload(repo, image.digest, kind === 1 ? n : 0));
      await pushManifest(reg, 'bench/layers', `v${i}`, image);
      await pushManifest(
        reg,
        'bench/layers',
        signatureTag(image.digest),
        legacySignatureManifest(payloads.map((p) => ({ payload: p, signature: signPayload(p, key.privateKey) }))),
      );
      return image.digest;
    },
  );

  const set = buildPolicySet([{ text: keyPolicyYaml('keyed', '**/bench/layers*', key.publicKeyPem), file: 'keyed.yaml' }]);
  const client = new RegistryClient({ now: systemClock, insecureHosts: [reg.host] });
  const deps = {
    registry: (r: { registry: string; repository: string }) => client.repository(r),
    trustRootResolver: new TrustRootResolver({ now: systemClock }),
  };
  const verifyOne = async (digest: string) => {
    const v = await verifyImage(parseImageTarget(`${repo}@${digest}`), (name, literal) => policiesMatching(set, name, { literal }), deps);
    if (v.verdict !== 'admit') throw new Error(`${digest}: ${v.verdict}: ${v.reasons.join('; ')}`);
  };
  // Warm the client (connection, the policy's key) on an image no round uses.
  const spare = buildImage({ seed: 'bench-layers-warm' });
  const p = payload(repo, spare.digest, 0);
  await pushManifest(reg, 'bench/layers', 'warm', spare);
  await pushManifest(reg, 'bench/layers', signatureTag(spare.digest), legacySignatureManifest([{ payload: p, signature: signPayload(p, key.privateKey) }]));
  await verifyOne(spare.digest);

  // The floor: what reading and checking the same evidence costs with nothing around it.
  const registry = rawRegistry(reg.host, EVIDENCE_READ_CONCURRENCY);
  const raw = (path: string, accept?: string) => registry.get(`/v2/bench/layers/${path}`, accept);
  const publicKey = createPublicKey(key.publicKeyPem);
  const floorOne = async (digest: string) => {
    if ((await raw(`manifests/${referrersTag(digest)}`, MANIFEST_ACCEPT)).status !== 404) throw new Error(`${digest}: a referrers tag the bench did not push`);
    const sig = JSON.parse((await raw(`manifests/${signatureTag(digest)}`, MANIFEST_ACCEPT)).body.toString('utf8')) as SignatureLayers;
    const distinct = [...new Set(sig.layers.map((l) => l.digest))];
    const blobs = new Map(await mapLimit(distinct, EVIDENCE_READ_CONCURRENCY, async (d) => [d, (await raw(`blobs/${d}`)).body] as const));
    for (const l of sig.layers) {
      if (!verify('sha256', blobs.get(l.digest)!, publicKey, Buffer.from(l.annotations['dev.cosignproject.cosign/signature']!, 'base64'))) {
        throw new Error(`${digest}: the floor's signature check failed`);
      }
    }
    return 2 + distinct.length;
  };
  await floorOne(spare.digest);

  const ms = SIDES.map(() => KINDS.map((): number[] => []));
  const requests = SIDES.map(() => KINDS.map(() => 0));
  const registryCpuMs = SIDES.map(() => KINDS.map(() => 0));
  for (let round = 0; round < ROUNDS; round++) {
    for (let j = 0; j < KINDS.length * SIDES.length; j++) {
      // Kinds rotate each round; sigwatch and its floor alternate, the first of the two swapped each round.
      const kind = (round + Math.floor(j / 2)) % KINDS.length;
      const side = (j + round) % 2;
      const digest = images[(round * KINDS.length + kind) * SIDES.length + side]!;
      client.http.counter.reset();
      const cpu = reg.cpuMs();
      const s = performance.now();
      const made = side === 0 ? (await verifyOne(digest), client.http.counter.total) : await floorOne(digest);
      ms[side]![kind]!.push(performance.now() - s);
      registryCpuMs[side]![kind]! += reg.cpuMs() - cpu;
      requests[side]![kind]! += made;
    }
  }
  registry.close();
  const figure = (side: number, kind: number) => ({
    ...summary(ms[side]![kind]!),
    requests: requests[side]![kind]! / ROUNDS,
    registryCpuMsPerImage: registryCpuMs[side]![kind]! / ROUNDS,
  });
  const figures = Object.fromEntries(KINDS.map((k, i) => [k, { ...figure(0, i), floor: figure(1, i) }]));
  const one = figures[KINDS[0]]!;
  console.log(`a .sig of ${LAYERS} layers against one of 1 (warm, by digest, ${ROUNDS} rounds in turn; median, p25–p75)`);
  for (const k of KINDS) {
    const f = figures[k]!;
    console.log(
      `  ${k.padEnd(22)} ${f.median.toFixed(2)} ms (${f.p25.toFixed(2)}–${f.p75.toFixed(2)}), ${f.requests} requests, ${(f.median / one.median).toFixed(2)}× the 1-layer time;` +
        ` floor ${f.floor.median.toFixed(2)} ms (${f.floor.p25.toFixed(2)}–${f.floor.p75.toFixed(2)}), ${f.floor.requests} requests, ${(f.floor.median / one.floor.median).toFixed(2)}× the 1-layer floor;` +
        ` docker-registry ${f.registryCpuMsPerImage.toFixed(1)} ms CPU an image`,
    );
  }
  writeResults({ layers: { layers: LAYERS, rounds: ROUNDS, ...figures } });
} finally {
  await reg.stop();
}
