/**
 * Where a keyed verification's CPU goes: verifies 400 key-signed images twice
 * against a local docker-registry and writes a V8 CPU profile of the second
 * (warm) pass to /tmp/sigwatch-keyed.cpuprofile (open it in Chrome DevTools).
 * The profile found the two fixes in the #11 note: PEM keys parsed per image,
 * and an exception per pinned reference in policy matching.
 */
import { TrustRootResolver } from '../src/trust/trust-roots.ts';
import { systemClock } from '../src/clock.ts';
import { buildPolicySet, policiesMatching } from '../src/store/policy-set.ts';
import { RegistryClient } from '../src/registry/client.ts';
import { parseImageTarget } from '../src/registry/target.ts';
import { verifyImages } from '../src/pipeline/verify-batch.ts';
import {
  buildImage,
  generateKeyPair,
  keyPolicyYaml,
  legacySignatureManifest,
  pushManifest,
  signatureTag,
  signPayload,
  simpleSigningPayload,
  startRegistry,
} from '../test/support/index.ts';
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
const reg = await startRegistry();
const key = generateKeyPair();
const imgs: ReturnType<typeof buildImage>[] = [];
for (let i = 0; i < 400; i++) {
  const image = buildImage({ seed: `p-${i}` });
  const payload = simpleSigningPayload(`${reg.host}/p/k`, image.digest);
  await pushManifest(reg, 'p/k', `v${i}`, image);
  await pushManifest(reg, 'p/k', signatureTag(image.digest), legacySignatureManifest([{ payload, signature: signPayload(payload, key.privateKey) }]));
  imgs.push(image);
}
const set = buildPolicySet([{ text: keyPolicyYaml('keyed', '**', key.publicKeyPem), file: 'k.yaml' }]);
const client = new RegistryClient({ now: systemClock, insecureHosts: [reg.host] });
const run = () =>
  verifyImages(
    imgs.map((im) => parseImageTarget(`${reg.host}/p/k@${im.digest}`)),
    (n, l) => policiesMatching(set, n, { literal: l }),
    { registry: (r) => client.repository(r), trustRootResolver: new TrustRootResolver({ now: systemClock }) },
  );
await run();
const s = new Session();
s.connect();
await s.post('Profiler.enable');
await s.post('Profiler.setSamplingInterval', { interval: 200 });
await s.post('Profiler.start');
const cpu = process.cpuUsage();
const t = performance.now();
await run();
const used = process.cpuUsage(cpu);
console.log('images/s', (400 / ((performance.now() - t) / 1000)).toFixed(0), 'cpu ms/image', ((used.user + used.system) / 1000 / 400).toFixed(2));
const { profile } = await s.post('Profiler.stop');
writeFileSync('/tmp/sigwatch-keyed.cpuprofile', JSON.stringify(profile));
await reg.stop();
