/**
 * `npm run bench`: the figures of issue #11, side by side with their floors.
 *
 * - round trips per verified image, by case, against the floor (tag→digest,
 *   the referrers list, signature manifest; the blob only when its payload is
 *   not the one cosign signs for the image);
 * - warm latency p50/p99 of `verifyImage` against a floor made of the same
 *   number of raw HTTP requests to the same registry plus a raw
 *   `crypto.verify` of the same signature;
 * - throughput of a batch of signed images (keyed and keyless) with the
 *   concurrency the code chooses, against the same floor over the same images
 *   at the same width, and peak RSS;
 * - (cold start of each Lambda bundle against bare node: bench/cold-start.ts, which
 *   `npm run bench` runs first, alone);
 * - the obvious alternative: `sigstore`'s high-level `verify` per image after
 *   fetching the bundle, on the same images in the same run.
 *
 * Everything runs against a docker-registry on 127.0.0.1; nothing else is
 * contacted. Writes bench/results.json. BENCH_IMAGES sets the number of
 * distinct images of each kind (5000 by default): every one has its own
 * manifest, payload and signature, and each keyless one its own certificate.
 */
import { TrustRootResolver } from '../src/trust/trust-roots.ts';
import { systemClock } from '../src/clock.ts';
import { spawnSync } from 'node:child_process';
import { createPublicKey, verify as cryptoVerify, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTrustedRootFile } from '../src/trust/trusted-root.ts';
import { buildPolicySet } from '../src/store/policy-set.ts';
import { policiesMatching } from '../src/store/policy-set.ts';
import { RegistryClient } from '../src/registry/client.ts';
import { DEFAULT_CONNECTIONS_PER_ORIGIN } from '../src/registry/http.ts';
import { parseImageTarget } from '../src/registry/target.ts';
import { verifyImage } from '../src/verify/verify-image.ts';
import { DEFAULT_CONCURRENCY, verifyImages } from '../src/pipeline/verify-batch.ts';
import { mapLimit } from '../src/map-limit.ts';
import type { PolicySet } from '../src/policy/types.ts';
import {
  buildImage,
  bundleReferrer,
  cosignSignStatement,
  createKeylessFixture,
  createTufRepository,
  serveTufRepository,
  sha256Digest,
  generateKeyPair,
  keyPolicyYaml,
  legacySignatureManifest,
  pushManifest,
  referrersIndex,
  signatureTag,
  signPayload,
  simpleSigningPayload,
  startRegistry,
  type BuiltManifest,
} from '../test/support/index.ts';
import { startCountingProxy } from '../test/support/tcp-proxy.ts';
import { interleaved, rawRegistry, summary, writeResults, type SignatureLayers } from './support.ts';

const N = Number(process.env.BENCH_IMAGES ?? 5000);
/** Pushes at once while setting up: the registry is local, setup is not what is measured. */
const SETUP_WIDTH = 8;
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 300);
/** Images of each legacy kind verified through the counting proxy: one cold, ten warm. */
const ROUND_TRIP_IMAGES = 11;
const GITHUB = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
const root = new URL('..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'sigwatch-bench-'));
const results: Record<string, unknown> = { images: N, machine: `${process.platform}/${process.arch}, node ${process.version}` };
const line = (label: string, value: string) => console.log(`  ${label.padEnd(44)} ${value}`);
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const ms = (x: number) => `${x.toFixed(2)} ms`;
const spread = (s: { median: number; p25: number; p75: number }) => `${ms(s.median)} (${s.p25.toFixed(2)}–${s.p75.toFixed(2)})`;

const reg = await startRegistry();
try {
  // --- Images: keyed legacy, keyless legacy, keyless cosign v3 bundles -------
  const key = generateKeyPair();
  const fixture = await createKeylessFixture();
  const rootFile = join(work, 'trusted_root.json');
  await fixture.writeTrustedRoot(rootFile);
  const trust = await loadTrustedRootFile(rootFile);
  const t = performance.now();
  /**
   * `count` distinct images in `repo`, each with its `.sig` as `cosign sign`
   * writes it for the name `host/repo` (keyed, or keyless with its own
   * certificate): the name the image is verified by, as when a team signs
   * what it pushes.
   */
  const signed = (kind: 'keyed' | 'keyless', host: string, repo: string, count: number): Promise<BuiltManifest[]> =>
    mapLimit(
      Array.from({ length: count }, (_, i) => i),
      SETUP_WIDTH,
      async (i) => {
        const image = buildImage({ seed: `${repo}-${i}` });
        const payload = simpleSigningPayload(`${host}/${repo}`, image.digest);
        const layer =
          kind === 'keyed'
            ? { payload, signature: signPayload(payload, key.privateKey) }
            : await fixture.signKeyless(payload, { issuer: GITHUB, subject: WORKFLOW }).then((s) => ({
                payload,
                signature: s.signature,
                certificatePem: s.certificatePem,
                chainPem: s.chainPem,
                rekorBundle: s.rekorBundle,
              }));
        await pushManifest(reg, repo, `v${i}`, image);
        await pushManifest(reg, repo, signatureTag(image.digest), legacySignatureManifest([layer]));
        return image;
      },
    );
  const keyed = await signed('keyed', reg.host, 'bench/keyed', N);
  const keyless = await signed('keyless', reg.host, 'bench/keyless', N);
  // Requests and TCP connections are counted through a proxy in front of the registry: its images are signed for the proxy's name.
  const proxy = await startCountingProxy(reg.host);
  const proxiedKeyed = await signed('keyed', proxy.host, 'bench/keyed-counted', ROUND_TRIP_IMAGES);
  const proxiedKeyless = await signed('keyless', proxy.host, 'bench/keyless-counted', ROUND_TRIP_IMAGES);
  const bundled: { image: BuiltManifest; bundle: unknown }[] = [];
  const BUNDLED = Math.min(N, 200);
  for (let i = 0; i < BUNDLED; i++) {
    const image = buildImage({ seed: `bench-bundle-${i}` });
    const bundle = await fixture.signDsseKeyless('application/vnd.in-toto+json', cosignSignStatement(`${reg.host}/bench/bundles`, image.digest), {
      issuer: GITHUB,
      subject: WORKFLOW,
    });
    const referrer = bundleReferrer(image, bundle);
    await pushManifest(reg, 'bench/bundles', `v${i}`, image);
    await pushManifest(reg, 'bench/bundles', referrer.digest, referrer);
    // docker-registry 2.8 has no referrers API: the OCI fallback tag is what cosign writes there.
    await pushManifest(reg, 'bench/bundles', image.digest.replace(':', '-'), referrersIndex([referrer]));
    bundled.push({ image, bundle });
  }
  console.log(`setup: ${N} keyed, ${N} keyless, ${BUNDLED} bundled images pushed in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);

  const keylessPolicy = `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: keyless}
spec:
  images: [{glob: "**/bench/keyless*"}, {glob: "**/bench/bundles*"}]
  authorities:
    - name: release
      keyless:
        url: https://fulcio.sigstore.dev
        identities: [{issuer: "${GITHUB}", subject: "${WORKFLOW}"}]
`;
  const set: PolicySet = buildPolicySet([
    { text: keyPolicyYaml('keyed', '**/bench/keyed*', key.publicKeyPem), file: 'keyed.yaml' },
    { text: keylessPolicy, file: 'keyless.yaml' },
  ]);
  const select = (name: string, literal: boolean) => policiesMatching(set, name, { literal });
  const newClient = () => new RegistryClient({ now: systemClock, insecureHosts: [reg.host] });
  const trustRootResolver = new TrustRootResolver({ now: systemClock });
  const depsFor = (client: RegistryClient) => ({
    registry: (ref: { registry: string; repository: string }) => client.repository(ref),
    trust: () => trust,
    trustRoots: set.trustRoots,
    trustRootResolver,
  });
  const verifyOne = async (client: RegistryClient, ref: string) => {
    const v = await verifyImage(parseImageTarget(ref), select, depsFor(client));
    if (v.verdict !== 'admit') throw new Error(`${ref}: ${v.verdict}: ${v.reasons.join('; ')}`);
    return v;
  };

  // --- Round trips -------------------------------------------------------------
  console.log(
    'round trips per verified image (warm client; cold = a fresh client as `sigwatch verify` makes it; floor: tag→digest + the referrers list, which cosign v3 reads for every image + signature manifest; the payload cosign signs for the image is known without its blob)',
  );
  const trips: Record<string, { cold: number; warm: number; floor: number; warmConnections: number; coldConnections: number }> = {};
  // Requests are counted by the client; TCP connections by the proxy in front of the registry, which the client is pointed at.
  // Made as `sigwatch verify` makes its client (one connection per registry): "cold" is what a CLI run costs.
  const proxied = () => new RegistryClient({ now: systemClock, insecureHosts: [proxy.host], connectionsPerOrigin: 1 });
  const cases: [string, (i: number) => string, number][] = [
    ['legacy .sig, key, by tag', (i) => `${proxy.host}/bench/keyed-counted:v${i}`, 3],
    ['legacy .sig, key, by digest', (i) => `${proxy.host}/bench/keyed-counted@${proxiedKeyed[i]!.digest}`, 2],
    ['legacy .sig, keyless, by digest', (i) => `${proxy.host}/bench/keyless-counted@${proxiedKeyless[i]!.digest}`, 2],
    // The referrers list, the bundle manifest and blob, and the (absent) .sig tag.
    ['referrer bundle, keyless, by digest', (i) => `${proxy.host}/bench/bundles@${bundled[i]!.image.digest}`, 4],
  ];
  for (const [name, ref, floor] of cases) {
    const client = proxied();
    const before = proxy.connections;
    await verifyOne(client, ref(0));
    const cold = client.http.counter.total;
    const coldConnections = proxy.connections - before;
    client.http.counter.reset();
    const warmBefore = proxy.connections;
    for (let i = 1; i < ROUND_TRIP_IMAGES; i++) await verifyOne(client, ref(i));
    const warm = ROUND_TRIP_IMAGES - 1;
    trips[name] = { cold, warm: client.http.counter.total / warm, floor, coldConnections, warmConnections: (proxy.connections - warmBefore) / warm };
    line(
      name,
      `${trips[name].warm} requests warm (${cold} cold), floor ${floor}; new TCP connections ${trips[name].warmConnections} warm (${coldConnections} cold)`,
    );
  }
  results.roundTrips = trips;
  await proxy.close();

  /**
   * The floor of one image: the requests sigwatch makes warm by digest (the
   * referrers tag, the `.sig` manifest, and its blob unless it is the payload
   * cosign signs for the image, known without a fetch), raw, and one
   * `crypto.verify` with the signer's key (the certificate's, for keyless).
   */
  const publicKey = createPublicKey(key.publicKeyPem);
  const floorAccept = 'application/vnd.oci.image.manifest.v1+json,application/vnd.oci.image.index.v1+json';
  async function floorImage(raw: ReturnType<typeof rawRegistry>, repo: string, image: BuiltManifest): Promise<void> {
    if ((await raw.get(`/v2/${repo}/manifests/${image.digest.replace(':', '-')}`, floorAccept)).status !== 404) throw new Error('floor: a referrers tag');
    const sig = JSON.parse((await raw.get(`/v2/${repo}/manifests/${signatureTag(image.digest)}`, floorAccept)).body.toString('utf8')) as SignatureLayers;
    const layer = sig.layers[0]!;
    const known = simpleSigningPayload(`${reg.host}/${repo}`, image.digest);
    const blob = sha256Digest(known) === layer.digest ? known : (await raw.get(`/v2/${repo}/blobs/${layer.digest}`)).body;
    const certificate = layer.annotations['dev.sigstore.cosign/certificate'];
    const signer = certificate ? new X509Certificate(certificate).publicKey : publicKey;
    if (!cryptoVerify('sha256', blob, signer, Buffer.from(layer.annotations['dev.cosignproject.cosign/signature']!, 'base64')))
      throw new Error('floor: bad signature');
  }

  // --- Latency against the floor ------------------------------------------------
  console.log('\nwarm latency per image, by digest, keyed legacy signature');
  {
    const client = newClient();
    await verifyOne(client, `${reg.host}/bench/keyed@${keyed[0]!.digest}`);
    // The floor: the same requests raw, and one crypto.verify; sampled alternately with sigwatch.
    const raw = rawRegistry(reg.host, DEFAULT_CONNECTIONS_PER_ORIGIN);
    const { a: ours, b: floor } = await interleaved(
      SAMPLES,
      async (i) => void (await verifyOne(client, `${reg.host}/bench/keyed@${keyed[i % N]!.digest}`)),
      (i) => floorImage(raw, 'bench/keyed', keyed[i % N]!),
    );
    raw.close();
    const r = { p50: pct(ours, 50), p99: pct(ours, 99), floorP50: pct(floor, 50), floorP99: pct(floor, 99), ours: summary(ours), floor: summary(floor) };
    line('sigwatch verifyImage p50 / p99', `${ms(r.p50)} / ${ms(r.p99)}; median (p25–p75) ${spread(r.ours)}`);
    line('floor (2 raw requests + crypto.verify) p50 / p99', `${ms(r.floorP50)} / ${ms(r.floorP99)}; median (p25–p75) ${spread(r.floor)}`);
    line('ratio p50 / p99 (target ≤ 2×)', `${(r.p50 / r.floorP50).toFixed(2)}× / ${(r.p99 / r.floorP99).toFixed(2)}×`);
    results.latency = { ...r, ratioP50: r.p50 / r.floorP50, ratioP99: r.p99 / r.floorP99 };
  }

  /**
   * The throughput floor: floorImage on a keep-alive agent as wide as
   * sigwatch's, the images DEFAULT_CONCURRENCY at a time. It runs on the same images right after
   * sigwatch's pass, so the registry's caches are as warm as they get: if
   * anything, that favours the floor.
   */
  async function throughputFloor(repo: string, images: BuiltManifest[]) {
    const raw = rawRegistry(reg.host, DEFAULT_CONNECTIONS_PER_ORIGIN);
    const cpu = process.cpuUsage();
    const registryCpu = reg.cpuMs();
    const s = performance.now();
    await mapLimit(images, DEFAULT_CONCURRENCY, (image) => floorImage(raw, repo, image));
    const seconds = (performance.now() - s) / 1000;
    const used = process.cpuUsage(cpu);
    raw.close();
    return {
      imagesPerSecond: images.length / seconds,
      cpuMsPerImage: (used.user + used.system) / 1000 / images.length,
      registryCpuMsPerImage: (reg.cpuMs() - registryCpu) / images.length,
    };
  }

  // --- Throughput and memory ------------------------------------------------------
  console.log(`\nthroughput, ${N} images per batch, concurrency ${DEFAULT_CONCURRENCY} (chosen by verifyImages)`);
  const throughput: Record<string, unknown> = {};
  for (const [name, repo, images] of [
    ['keyed', 'bench/keyed', keyed],
    ['keyless', 'bench/keyless', keyless],
  ] as const) {
    const client = newClient();
    const targets = images.map((im) => parseImageTarget(`${reg.host}/${repo}@${im.digest}`));
    const cpu = process.cpuUsage();
    const registryCpu = reg.cpuMs();
    const s = performance.now();
    const verdicts = await verifyImages(targets, select, depsFor(client));
    const seconds = (performance.now() - s) / 1000;
    const used = process.cpuUsage(cpu);
    // The server's share of the two cores: what the machine has left for sigwatch.
    const registryCpuMsPerImage = (reg.cpuMs() - registryCpu) / N;
    const denied = verdicts.filter((v) => v.verdict !== 'admit').length;
    if (denied > 0) throw new Error(`${name}: ${denied} images not admitted: ${verdicts.find((v) => v.verdict !== 'admit')!.reasons[0]}`);
    const cpuMsPerImage = (used.user + used.system) / 1000 / N;
    const floor = await throughputFloor(repo, images);
    throughput[name] = { imagesPerSecond: N / seconds, cpuMsPerImage, registryCpuMsPerImage, distinctImages: N, floor };
    line(
      `${name}: images/s, ${N} distinct images`,
      `${(N / seconds).toFixed(0)}  (${cpuMsPerImage.toFixed(2)} ms CPU per image in sigwatch, ${registryCpuMsPerImage.toFixed(2)} ms in docker-registry)`,
    );
    line(
      `${name} floor (raw requests + crypto.verify)`,
      `${floor.imagesPerSecond.toFixed(0)}  (${floor.cpuMsPerImage.toFixed(2)} ms CPU per image here, ${floor.registryCpuMsPerImage.toFixed(2)} ms in docker-registry)`,
    );
  }
  results.throughput = throughput;
  results.peakRssMiB = process.resourceUsage().maxRSS / 1024;
  line('peak RSS of this process (all of the above)', `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
  const one = spawnSync(process.execPath, ['-e', oneVerificationScript(reg.host, keyed[0]!.digest, key.publicKeyPem)], { cwd: root, encoding: 'utf8' });
  if (one.status !== 0) throw new Error(`one-verification child failed: ${one.stderr}`);
  const bareRss = Number(spawnSync(process.execPath, ['-e', 'console.log(process.memoryUsage().rss / 1048576)'], { encoding: 'utf8' }).stdout.trim());
  const oneRss = { ...(JSON.parse(one.stdout.trim().split('\n').pop()!) as { maxRssMiB: number }), bareMiB: bareRss };
  line('peak RSS, one verification in a fresh process', `${oneRss.maxRssMiB.toFixed(0)} MiB (bare node ${oneRss.bareMiB.toFixed(0)} MiB)`);
  results.oneVerificationRssMiB = oneRss;

  // --- The obvious alternative, at its best: sigstore's createVerifier, made once ----
  console.log('\nthe alternative at its best: fetch each bundle, then one reused `sigstore` createVerifier (same images, interleaved)');
  {
    const { createVerifier } = await import('sigstore');
    // createVerifier reads its trust root through TUF once: a TUF repository served on 127.0.0.1 carries
    // the fixture's trusted root, so that nothing leaves the machine.
    const tuf = createTufRepository({ targets: { 'trusted_root.json': readFileSync(rootFile) } });
    const mirror = await serveTufRepository(tuf);
    const tufRootPath = join(work, 'tuf-root.json');
    writeFileSync(tufRootPath, tuf.root);
    const verifier = await createVerifier({
      tufMirrorURL: mirror.url,
      tufRootPath,
      tufCachePath: join(work, 'tuf-cache'),
      certificateIssuer: GITHUB,
      certificateIdentityURI: WORKFLOW,
    });
    const client = newClient();
    const theirsClient = newClient();
    let okOurs = 0;
    let okTheirs = 0;
    let failure = '';
    const { a: ours, b: theirs } = await interleaved(
      bundled.length,
      async (i) => {
        if ((await verifyOne(client, `${reg.host}/bench/bundles@${bundled[i]!.image.digest}`)).verdict === 'admit') okOurs++;
      },
      async (i) => {
        // What a user writes: fetch the referrer, read its bundle, verify it with the verifier made once.
        const repo = theirsClient.repository({ registry: reg.host, repository: 'bench/bundles' });
        const refs = await repo.referrers(bundled[i]!.image.digest);
        const manifest = await repo.getManifest(refs[0]!.digest);
        const layer = (manifest!.json as { layers: { digest: string; size: number; mediaType: string }[] }).layers[0]!;
        const bundleJson = JSON.parse((await repo.getBlob(layer, 1 << 20)).toString('utf8')) as Parameters<typeof verifier.verify>[0];
        try {
          verifier.verify(bundleJson);
          okTheirs++;
        } catch (err) {
          failure ||= (err as Error).message;
        }
      },
    );
    const o = summary(ours);
    const t = summary(theirs);
    line('sigwatch verifyImage, per image', `${spread(o)} (${okOurs}/${bundled.length} admitted)`);
    line(
      'fetch + reused sigstore verifier, per image',
      `${spread(t)} (${okTheirs}/${bundled.length} verified${failure ? `; first failure: ${failure.slice(0, 80)}` : ''})`,
    );
    await mirror.close();
    results.alternative = {
      peer: 'sigstore createVerifier, made once, reused for every image',
      sigwatch: o,
      peerVerify: t,
      sigwatchMsPerImage: o.median,
      sigstoreVerifyMsPerImage: t.median,
      sigstoreVerified: okTheirs,
      note: failure || undefined,
    };
  }

  writeResults(results);
  console.log('\nwritten: bench/results.json');
} finally {
  await reg.stop();
  rmSync(work, { recursive: true, force: true });
}

/** A child process that verifies one image and prints its peak RSS. */
function oneVerificationScript(host: string, digest: string, pem: string): string {
  return (
    `
const { RegistryClient } = await import('./src/registry/client.ts');
const { systemClock } = await import('./src/clock.ts');
const { TrustRootResolver } = await import('./src/trust/trust-roots.ts');
const { parseImageTarget } = await import('./src/registry/target.ts');
const { verifyImage } = await import('./src/verify/verify-image.ts');
const { buildPolicySet, policiesMatching } = await import('./src/store/policy-set.ts');
const { keyPolicyYaml } = await import('./test/support/samples.ts');
const set = buildPolicySet([{ text: keyPolicyYaml('k', '**', ${JSON.stringify(pem)}), file: 'k.yaml' }]);
const client = new RegistryClient({ now: systemClock, insecureHosts: [${JSON.stringify(host)}] });
const v = await verifyImage(parseImageTarget(${JSON.stringify(`${host}/bench/keyed@${digest}`)}), (n, l) => policiesMatching(set, n, { literal: l }), { registry: (r) => client.repository(r), trustRootResolver: new TrustRootResolver({ now: systemClock }) });
if (v.verdict !== 'admit') { console.error(v.reasons); process.exit(1); }
// RSS now rather than maxRSS: a child forked from this big process inherits its maxRSS on Linux.\nconsole.log(JSON.stringify({ maxRssMiB: process.memoryUsage().rss / 1048576 }));
`
      .replace(/^\n/, '')
      .replace(/import\(/g, 'import(')
      .replace(/^/, '(async () => {\n') + '\n})();'
  );
}
