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
 */
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
import { summary, writeResults } from './support.ts';

const ROUNDS = Number(process.env.BENCH_LAYER_ROUNDS ?? 40);
const LAYERS = 100;
const KINDS = ['1 layer', `${LAYERS} distinct layers`, `${LAYERS} identical layers`] as const;

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
    Array.from({ length: ROUNDS * KINDS.length }, (_, i) => i),
    8,
    async (i) => {
      const kind = i % KINDS.length;
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

  const ms: number[][] = KINDS.map(() => []);
  const requests: number[] = KINDS.map(() => 0);
  for (let round = 0; round < ROUNDS; round++) {
    for (let j = 0; j < KINDS.length; j++) {
      const kind = (round + j) % KINDS.length;
      client.http.counter.reset();
      const s = performance.now();
      await verifyOne(images[round * KINDS.length + kind]!);
      ms[kind]!.push(performance.now() - s);
      requests[kind]! += client.http.counter.total;
    }
  }
  const figures = Object.fromEntries(KINDS.map((k, i) => [k, { ...summary(ms[i]!), requests: requests[i]! / ROUNDS }]));
  const one = figures[KINDS[0]]!.median;
  console.log(`a .sig of ${LAYERS} layers against one of 1 (warm, by digest, ${ROUNDS} rounds in turn; median, p25–p75)`);
  for (const k of KINDS) {
    const f = figures[k]!;
    console.log(
      `  ${k.padEnd(22)} ${f.median.toFixed(2)} ms (${f.p25.toFixed(2)}–${f.p75.toFixed(2)}), ${f.requests} requests, ${(f.median / one).toFixed(2)}× the 1-layer time`,
    );
  }
  writeResults({ layers: { layers: LAYERS, rounds: ROUNDS, ...figures } });
} finally {
  await reg.stop();
}
