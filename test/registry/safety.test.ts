import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SigwatchError } from '../../src/errors.ts';
import { verifyImage } from '../../src/verify/verify-image.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { parseImageTarget } from '../../src/registry/target.ts';
import { loadPolicyPath } from '../../src/store/folder.ts';
import { policiesMatching } from '../../src/store/policy-set.ts';
import { buildImage, buildSamples, generateKeyPair, keyPolicyYaml, signatureTag, type BuiltManifest } from '../support/index.ts';
import { sigwatch } from '../support/cli.ts';
import { startHttpServer } from '../support/http-server.ts';
import { testTrustRoots } from '../support/trust-roots.ts';
import { testNow } from '../support/clock.ts';

const key = generateKeyPair();
const signed = buildSamples({ dockerReference: 'registry.example.com/team/app', key: key.privateKey, otherKey: generateKeyPair().privateKey }).find(
  (s) => s.tag === 'signed',
)!;
const signature = signed.signature!;
const payload = signature.blobs.find((b) => b.digest === signature.json.layers![0]!.digest)!;
const work = mkdtempSync(join(tmpdir(), 'sigwatch-safety-'));
const policy = join(work, 'policy.yaml');
before(() => writeFileSync(policy, keyPolicyYaml('release', '**', key.publicKeyPem)));
after(() => rmSync(work, { recursive: true, force: true }));

type Server = Awaited<ReturnType<typeof startHttpServer>>;
const servers: Server[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

interface FakeOptions {
  /** Answers before the registry does; returns true when it answered. */
  fault?: (req: IncomingMessage, res: ServerResponse) => boolean | void;
  /** `user:password` that every request must carry as Basic auth. */
  basic?: string;
  /** Origin blob GETs are redirected to, as registries send them to S3 or a CDN. */
  blobsAt?: string;
}

/** Just enough of a registry to verify the signed sample: `team/app:signed`, its `.sig` and the signature blobs. */
async function fakeRegistry(opts: FakeOptions = {}): Promise<Server> {
  const manifests = new Map<string, BuiltManifest>([
    ['signed', signed.image],
    [signed.image.digest, signed.image],
    [signatureTag(signed.image.digest), signature],
  ]);
  const blobs = new Map(signature.blobs.map((b) => [b.digest, b.bytes]));
  const server = await startHttpServer((req, res) => {
    if (opts.fault?.(req, res)) return;
    if (opts.basic && req.headers.authorization !== `Basic ${Buffer.from(opts.basic).toString('base64')}`) {
      return res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"' }).end();
    }
    const [, kind, ref] = /^\/v2\/team\/app\/(manifests|blobs)\/([^/?]+)$/.exec(req.url ?? '') ?? [];
    const manifest = kind === 'manifests' ? manifests.get(ref!) : undefined;
    if (manifest) {
      res.writeHead(200, { 'content-type': manifest.mediaType, 'docker-content-digest': manifest.digest, 'content-length': manifest.bytes.length });
      return res.end(req.method === 'HEAD' ? undefined : manifest.bytes);
    }
    const blob = kind === 'blobs' ? blobs.get(ref!) : undefined;
    if (blob && opts.blobsAt) return res.writeHead(307, { location: `${opts.blobsAt}/${ref}?X-Amz-Signature=presigned` }).end();
    if (blob) return res.end(blob);
    res.writeHead(404).end();
  });
  servers.push(server);
  return server;
}

const verify = (host: string, ...extra: string[]) =>
  sigwatch('verify', `${host}/team/app:signed`, '--policies', policy, '--insecure-registry', host, '--format', 'json', ...extra);
const isBlob = (req: IncomingMessage) => req.url === `/v2/team/app/blobs/${payload.digest}`;
const isSignatureManifest = (req: IncomingMessage) => req.url === `/v2/team/app/manifests/${signatureTag(signed.image.digest)}`;

describe('registry faults through sigwatch verify', () => {
  it('admits the signed sample from the fake registry (the baseline every fault breaks)', async () => {
    const r = await verify((await fakeRegistry()).host);
    assert.equal(r.code, 0, r.stdout);
  });

  it('denies content that does not hash to its digest', async () => {
    // Same length, one bit changed: only the digest can tell.
    const tampered = Buffer.from(payload.bytes);
    tampered.writeUInt8(tampered.readUInt8(10) ^ 1, 10);
    const server = await fakeRegistry({ fault: (req, res) => isBlob(req) && !!res.end(tampered) });
    const r = await verify(server.host);
    assert.equal(r.code, 1);
    assert.equal(r.json().verdict, 'deny');
    assert.match(r.stdout, new RegExp(`${payload.digest}: content hashes to sha256:[0-9a-f]{64}, expected ${payload.digest}`));
  });

  it('refuses a manifest fetched by digest whose bytes hash to another digest', async () => {
    const other = buildImage({ seed: 'not-the-signed-one' });
    const server = await fakeRegistry({
      fault: (req, res) =>
        req.url === `/v2/team/app/manifests/${signed.image.digest}` && !!res.writeHead(200, { 'content-type': other.mediaType }).end(other.bytes),
    });
    const repo = new RegistryClient({ now: testNow, insecureHosts: [server.host] }).repository({ registry: server.host, repository: 'team/app' });
    await assert.rejects(repo.getManifest(signed.image.digest), (e: SigwatchError) => {
      assert.equal(e.code, 'DIGEST_MISMATCH');
      assert.equal(e.message, `${server.host}/team/app@${signed.image.digest}: content hashes to ${other.digest}, expected ${signed.image.digest}`);
      return true;
    });
  });

  it('denies a manifest over 4 MiB', async () => {
    const huge = Buffer.alloc(5 * 1024 * 1024, ' ');
    const server = await fakeRegistry({
      fault: (req, res) => isSignatureManifest(req) && !!res.writeHead(200, { 'content-type': signature.mediaType }).end(huge),
    });
    const r = await verify(server.host);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /exceeds the 4194304-byte limit/);
  });

  it('waits out a 429 with Retry-After, then admits', async () => {
    let limited = 0;
    const server = await fakeRegistry({
      fault: (req, res) => req.method === 'HEAD' && limited++ === 0 && !!res.writeHead(429, { 'retry-after': '1' }).end(),
    });
    const started = Date.now();
    const r = await verify(server.host);
    assert.equal(r.code, 0, r.stdout);
    assert.ok(Date.now() - started >= 950, 'Retry-After was honoured');
    assert.equal(server.requests.filter((q) => q.method === 'HEAD').length, 2);
  });

  it('denies a registry that answers 500 forever, naming it and the status, after 3 attempts', async () => {
    const server = await fakeRegistry({ fault: (_req, res) => !!res.writeHead(500).end() });
    const r = await verify(server.host);
    assert.equal(r.code, 1);
    assert.equal(r.json().reasons[0], `cannot resolve the image: ${server.host}/team/app:signed: registry answered HTTP 500`);
    assert.equal(server.requests.length, 3);
  });

  it('denies a registry that hangs, with "timed out" (client deadline, no CLI knob needed)', async () => {
    const server = await fakeRegistry({ fault: () => true });
    const client = new RegistryClient({ now: testNow, insecureHosts: [server.host], timeoutMs: 300, attempts: 2, backoffMs: 1 });
    const set = await loadPolicyPath(policy);
    const started = Date.now();
    const verdict = await verifyImage(parseImageTarget(`${server.host}/team/app:signed`), (name, literal) => policiesMatching(set, name, { literal }), {
      registry: (ref) => client.repository(ref),
      trustRootResolver: testTrustRoots(),
    });
    assert.equal(verdict.verdict, 'deny');
    assert.match(
      verdict.reasons[0]!,
      new RegExp(`^cannot resolve the image: ${server.host}/v2/team/app/manifests/signed: request timed out after 3\\d\\d ms$`),
    );
    assert.equal(server.requests.length, 2);
    assert.ok(Date.now() - started < 2_000);
  });

  it('follows a blob redirect to another host without the Basic credentials', async () => {
    const blobs = await startHttpServer((req, res) => {
      const digest = new URL(req.url!, 'http://x').pathname.slice(1);
      res.end(signature.blobs.find((b) => b.digest === digest)?.bytes);
    });
    servers.push(blobs);
    const server = await fakeRegistry({ basic: 'ci:basic-s3cret', blobsAt: blobs.url });
    const config = join(work, 'basic.json');
    writeFileSync(config, JSON.stringify({ auths: { [server.host]: { username: 'ci', password: 'basic-s3cret' } } }));
    const r = await verify(server.host, '--registry-config', config);
    assert.equal(r.code, 0, r.stdout);
    const basic = `Basic ${Buffer.from('ci:basic-s3cret').toString('base64')}`;
    const seen = server.requests.map((q) => `${q.method} ${q.url} ${q.headers.authorization ?? '-'}`);
    assert.deepEqual(seen.slice(0, 2), [`HEAD /v2/team/app/manifests/signed -`, `HEAD /v2/team/app/manifests/signed ${basic}`]);
    // The signature and the referrers (the API, then its fallback tag) are read side by side.
    assert.deepEqual(
      seen.slice(2).sort(),
      [
        `GET /v2/team/app/manifests/${signatureTag(signed.image.digest)} ${basic}`,
        `GET /v2/team/app/referrers/${signed.image.digest} ${basic}`,
        `GET /v2/team/app/manifests/${signed.image.digest.replace(':', '-')} ${basic}`,
        `GET /v2/team/app/blobs/${payload.digest} ${basic}`,
      ].sort(),
    );
    assert.deepEqual(
      blobs.requests.map((q) => q.headers.authorization),
      [undefined],
    );

    writeFileSync(config, JSON.stringify({ auths: { [server.host]: { username: 'ci', password: 'wrong-s3cret' } } }));
    const denied = await verify(server.host, '--registry-config', config);
    assert.equal(denied.code, 1);
    assert.match(denied.stdout, new RegExp(`${server.host}/v2/team/app/manifests/signed: access denied with the configured credentials \\(HTTP 401\\)`));
    assert.doesNotMatch(denied.stdout + denied.stderr, /s3cret|Y2k6/);
  });

  it('never speaks plain HTTP to a registry not named insecure', async () => {
    const server = await fakeRegistry();
    const r = await sigwatch('verify', `${server.host}/team/app:signed`, '--policies', policy, '--format', 'json');
    assert.equal(r.code, 1);
    assert.equal(
      r.json().reasons[0],
      `cannot resolve the image: ${server.host}/v2/team/app/manifests/signed: TLS handshake failed (EPROTO): the server may speak plain HTTP; if it is a local test registry, name it insecure (--insecure-registry ${server.host}, or registries.insecure in a local config)`,
    );
    assert.equal(server.requests.length, 0, 'only TLS handshakes reached it, never an HTTP request');
  });
});

describe('request paths built from validated names', () => {
  it('refuses, before any request, a repository the distribution grammar refuses, however it reached the client (source.oci, a caller)', async () => {
    const server = await startHttpServer((_req, res) => res.writeHead(404).end());
    try {
      const client = new RegistryClient({ now: testNow, insecureHosts: [server.host], backoffMs: 1 });
      for (const repository of ['dev/../prod/app', 'dev/./app', 'dev//app', 'dev/%2e%2e/app', '../app', 'app/']) {
        await assert.rejects(
          client.repository({ registry: server.host, repository }).getManifest('v1'),
          (e: SigwatchError) =>
            e.code === 'REFERENCE_INVALID' && e.message.startsWith(`${server.host}/${repository}: `) && /nothing requested$/.test(e.message),
          repository,
        );
      }
      assert.equal(server.requests.length, 0);
      assert.equal(await client.repository({ registry: server.host, repository: 'team/a__b/c--d.e' }).getManifest('v1'), undefined);
      assert.deepEqual(
        server.requests.map((r) => r.url),
        ['/v2/team/a__b/c--d.e/manifests/v1'],
      );
    } finally {
      await server.close();
    }
  });
});
