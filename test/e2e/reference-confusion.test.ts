import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildSamples, generateKeyPair, keyPolicyYaml, pushSamples, startRegistry, type TestRegistry } from '../support/index.ts';
import { sigwatch } from '../support/cli.ts';
import { ecrImageAction, PAYMENTS } from '../support/events.ts';
import { startHttpServer } from '../support/http-server.ts';

/**
 * Name confusion: a reference whose name policies see differs from the
 * repository fetched. `HOST/dev/../prod/app` would be matched against dev's
 * globs while URL parsing fetches `prod/app`; it is refused (exit 2, nothing
 * verified, nothing requested), and every request path is the validated
 * repository exactly.
 */

const key = generateKeyPair();
const samples = buildSamples({ dockerReference: 'x/team/app', key: key.privateKey, otherKey: generateKeyPair().privateKey });
const digestOf = (tag: string) => samples.find((s) => s.tag === tag)!.image.digest;
const work = mkdtempSync(join(tmpdir(), 'sigwatch-names-'));
const ECR_HOST = `${PAYMENTS}.dkr.ecr.eu-west-1.amazonaws.com`;

let reg: TestRegistry;
before(async () => {
  reg = await startRegistry();
  // Two teams' repositories: dev's policy lets anything through, prod's demands the release key.
  await pushSamples(reg, 'dev/app', samples);
  await pushSamples(reg, 'prod/app', samples);
});
after(async () => {
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

function policies(): string {
  const file = join(work, 'teams.yaml');
  writeFileSync(
    file,
    `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: dev-anything}
spec:
  images: [{glob: "${reg.host}/dev/**"}]
  authorities: [{name: open, static: {action: pass}}]
---
${keyPolicyYaml('prod-release', `${reg.host}/prod/**`, key.publicKeyPem)}`,
  );
  return file;
}

describe('references that walk out of their repository (sigwatch verify)', () => {
  it("refuses HOST/dev/../prod/app (matched as dev's, fetched as prod's) with exit 2, naming it", async () => {
    const file = policies();
    // The baseline: prod's unsigned image is denied, dev's admitted by dev's open policy.
    const prod = await sigwatch('verify', `${reg.host}/prod/app:unsigned`, '--policies', file, '--insecure-registry', reg.host, '--format', 'json');
    assert.equal(prod.code, 1, prod.stdout + prod.stderr);
    const dev = await sigwatch('verify', `${reg.host}/dev/app:unsigned`, '--policies', file, '--insecure-registry', reg.host, '--format', 'json');
    assert.equal(dev.code, 0, dev.stdout + dev.stderr);

    for (const image of [
      `${reg.host}/dev/../prod/app:unsigned`,
      `${reg.host}/dev/../prod/app@${digestOf('unsigned')}`,
      `${reg.host}/dev/./../prod/app:unsigned`,
    ]) {
      const r = await sigwatch('verify', image, '--policies', file, '--insecure-registry', reg.host, '--format', 'json');
      assert.equal(r.code, 2, `${image}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stdout, '', 'no verdict: nothing was verified');
      assert.match(
        r.stderr,
        new RegExp(
          `^sigwatch: could not parse reference: ${escape(image)} \\(path component "\\.\\.?" of "dev/[./]*prod/app" is not .*: not a distribution reference\\)\\n$`,
        ),
      );
    }
  });

  it('sends nothing for a reference the distribution grammar refuses, and only the validated repository path otherwise', async () => {
    const recorder = await startHttpServer((_req, res) => res.writeHead(404).end());
    try {
      for (const image of [
        `${recorder.host}/dev/../prod/app:v1`,
        `${recorder.host}/team//app:v1`,
        `${recorder.host}/team/app/:v1`,
        `${recorder.host}/dev/%2e%2e/prod/app:v1`,
        `${recorder.host}/-team/app:v1`,
      ]) {
        const r = await sigwatch('verify', image, '--policies', policies(), '--insecure-registry', recorder.host);
        assert.equal(r.code, 2, `${image}: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`^sigwatch: could not parse reference: ${escape(image)} \\(`));
      }
      assert.equal(recorder.requests.length, 0, 'no request for any refused reference');

      const ok = await sigwatch('verify', `${recorder.host}/team/app:v1`, '--policies', policies(), '--insecure-registry', recorder.host);
      assert.equal(ok.code, 1);
      assert.ok(recorder.requests.length >= 1);
      for (const req of recorder.requests) assert.ok(req.url?.startsWith('/v2/team/app/manifests/'), req.url);
    } finally {
      await recorder.close();
    }
  });
});

describe('references built from ECR events (sigwatch invoke)', () => {
  it('rejects an event whose repository name walks out of it, and still judges the healthy record beside it', async () => {
    const release = join(work, 'release.yaml');
    writeFileSync(release, keyPolicyYaml('release', '**', key.publicKeyPem));
    const config = join(work, 'local.yaml');
    writeFileSync(config, `policies: ./release.yaml\nregistries:\n  mirror:\n    "${ECR_HOST}": "${reg.host}"\n  insecure: ["${reg.host}"]\n`);
    const event = (id: string, repository: string) => ({
      messageId: id,
      eventSource: 'aws:sqs',
      body: JSON.stringify(ecrImageAction(id, { 'repository-name': repository, 'image-digest': digestOf('signed'), 'image-tag': 'signed' })),
    });
    const batch = join(work, 'batch.json');
    writeFileSync(
      batch,
      JSON.stringify({
        Records: [event('healthy', 'prod/app'), ...['dev/../prod/app', 'dev/./app', 'dev//app', 'dev/%2e%2e/app'].map((r, i) => event(`hostile-${i}`, r))],
      }),
    );

    const r = await sigwatch('invoke', batch, '--config', config);
    assert.equal(r.code, 1, r.stderr);
    const published = r.stdout.split(/\n(?=\{)/).filter((c) => c.trim());
    assert.equal(published.length, 1, 'only the healthy record is judged');
    const healthy = JSON.parse(published[0]!) as { verdict: string; image: string };
    assert.equal(healthy.verdict, 'admit');
    assert.match(healthy.image, new RegExp(`^${escape(ECR_HOST)}/prod/app@`));
    const rejected = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { message?: string; messageId?: string; reason?: string })
      .filter((l) => l.message === 'event rejected');
    assert.deepEqual(rejected.map((l) => l.messageId).sort(), ['hostile-0', 'hostile-1', 'hostile-2', 'hostile-3']);
    for (const l of rejected) assert.match(String(l.reason), /repository-name/);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
