/**
 * `npm run demo`: the verifier end to end with no AWS, no Docker and no network.
 * Builds sample images and their cosign signatures in an OCI image layout (keys
 * made now, thrown away after), writes a ClusterImagePolicy requiring the demo
 * key, and verifies each image with the real CLI code. Exits non-zero if any
 * verdict is not the expected one, so CI runs it as a smoke test.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../src/cli/main.ts';
import { generateKeyPair } from '../test/harness/cosign.ts';
import { buildSamples, keyPolicyYaml, writeSamplesLayout } from '../test/harness/samples.ts';

const REPOSITORY = 'registry.example.com/team/app';
const work = mkdtempSync(join(tmpdir(), 'sigwatch-demo-'));
try {
  const key = generateKeyPair();
  const samples = buildSamples({ dockerReference: REPOSITORY, key: key.privateKey, otherKey: generateKeyPair().privateKey });
  const layout = join(work, 'layout');
  await writeSamplesLayout(layout, samples);
  const policies = join(work, 'policies');
  mkdirSync(policies);
  const policy = keyPolicyYaml('require-release-key', 'registry.example.com/team/*', key.publicKeyPem);
  writeFileSync(join(policies, 'require-release-key.yaml'), policy);

  console.log(`sigwatch demo: ${samples.length} images in an OCI layout, one policy:\n`);
  console.log(policy.replace(/^/gm, '    '));
  let unexpected = 0;
  for (const s of samples) {
    console.log(`── ${s.tag}: ${s.description} (expected: ${s.expected})`);
    const out: string[] = [];
    const code = await run(['verify', `oci:${layout}:${s.tag}`, '--policies', policies, '--as', `${REPOSITORY}:${s.tag}`], {
      stdout: (line) => out.push(line),
      stderr: (line) => out.push(line),
    });
    console.log(out.join('\n').replace(/^/gm, '   '));
    const verdict = code === 0 ? 'admit' : 'deny';
    if (verdict !== s.expected) {
      unexpected++;
      console.log(`   !! expected ${s.expected}, got exit code ${code}`);
    }
    console.log();
  }
  console.log(unexpected === 0 ? 'every verdict as expected' : `${unexpected} unexpected verdict(s)`);
  process.exitCode = unexpected === 0 ? 0 : 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
