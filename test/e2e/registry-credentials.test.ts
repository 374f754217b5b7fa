import { EVIL_REALM_TOKEN } from '../support/secrets.ts';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildSamples,
  generateKeyPair,
  keyPolicyYaml,
  pushSamples,
  signatureTag,
  startRegistry,
  startTokenServer,
  type BuiltManifest,
  type TestRegistry,
  type TokenServer,
} from '../support/index.ts';
import { sigwatch } from '../support/cli.ts';
import { startHttpServer } from '../support/http-server.ts';
import { startRecordingFront, type RecordingFront } from '../support/recording-proxy.ts';
import { startCountingProxy, type CountingProxy } from '../support/tcp-proxy.ts';

/**
 * Credentials keyed by origin, through `sigwatch verify`: a registry's
 * password goes to that registry and to the token service its own 401 names,
 * never to a host it redirects to, nor to a token service such a host names.
 */

const key = generateKeyPair();
const samples = buildSamples({ dockerReference: 'registry.example.com/team/app', key: key.privateKey, otherKey: generateKeyPair().privateKey });
const signed = samples.find((s) => s.tag === 'signed')!;
const signature = signed.signature!;
const payload = signature.blobs.find((b) => b.digest === signature.json.layers![0]!.digest)!;
const work = mkdtempSync(join(tmpdir(), 'sigwatch-origin-auth-'));
const policy = join(work, 'release.yaml');
writeFileSync(policy, keyPolicyYaml('release', '**', key.publicKeyPem));

const USER = 'ci';
const PASSWORD = 'registry-a-S3cret-pw';
const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;

type Server = Awaited<ReturnType<typeof startHttpServer>>;
const servers: Server[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(work, { recursive: true, force: true });
});

async function server(handler: (req: IncomingMessage, res: ServerResponse) => void, opts: { tls?: boolean } = {}): Promise<Server> {
  const s = await startHttpServer(handler, opts);
  servers.push(s);
  return s;
}

function dockerConfig(name: string, auths: Record<string, string>): string {
  const file = join(work, `${name}.json`);
  writeFileSync(file, JSON.stringify({ auths: Object.fromEntries(Object.entries(auths).map(([host, auth]) => [host, { auth }])) }));
  return file;
}

/** Everything a server received that could carry a secret: every header value and the URL of every request. */
function received(s: Server): string {
  return JSON.stringify(s.requests.map((r) => ({ url: r.url, headers: r.headers })));
}

/**
 * Just enough of a registry for the signed sample (`team/app:signed`, its
 * `.sig`, its blob): `authorized` decides whether a request may pass (else 401
 * with `challenge`), and blobs redirect to `blobsAt`.
 */
async function fakeRegistry(opts: {
  authorized: (req: IncomingMessage) => boolean;
  challenge: () => string;
  blobsAt: () => string;
  token?: string;
  tls?: boolean;
}) {
  const manifests = new Map<string, BuiltManifest>([
    ['signed', signed.image],
    [signed.image.digest, signed.image],
    [signatureTag(signed.image.digest), signature],
  ]);
  return server((req, res) => {
    if (opts.token && req.url?.startsWith('/token')) {
      return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: opts.token }));
    }
    if (!opts.authorized(req)) return res.writeHead(401, { 'www-authenticate': opts.challenge() }).end();
    const [, kind, ref] = /^\/v2\/team\/app\/(manifests|blobs)\/([^/?]+)$/.exec(req.url ?? '') ?? [];
    const manifest = kind === 'manifests' ? manifests.get(ref!) : undefined;
    if (manifest) {
      res.writeHead(200, { 'content-type': manifest.mediaType, 'docker-content-digest': manifest.digest, 'content-length': manifest.bytes.length });
      return res.end(req.method === 'HEAD' ? undefined : manifest.bytes);
    }
    if (kind === 'blobs' && ref === payload.digest) return res.writeHead(307, { location: `${opts.blobsAt()}/blobs/${ref}?X-Amz-Signature=presigned` }).end();
    res.writeHead(404).end();
  }, opts);
}

describe('credentials keyed by origin (sigwatch verify)', () => {
  it("never sends registry A's password to the storage host A redirects to, nor to the token realm that host names", async () => {
    // The token service the storage host names: it would hand out a token for anything.
    const evil = await server((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: EVIL_REALM_TOKEN })));
    // Registry A's blob storage: answers every request with a challenge pointing at evil.
    const storage = await server((_req, res) => res.writeHead(401, { 'www-authenticate': `Bearer realm="${evil.url}/token",service="evil"` }).end());
    const registry = await fakeRegistry({
      authorized: (req) => req.headers.authorization === basic,
      challenge: () => 'Basic realm="registry-a"',
      blobsAt: () => storage.url,
    });
    const config = dockerConfig('registry-a', { [registry.host]: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') });

    // Every host named insecure, the setting that lets the most go over plain HTTP: still nothing leaks.
    const r = await sigwatch(
      'verify',
      `${registry.host}/team/app:signed`,
      '--policies',
      policy,
      '--registry-config',
      config,
      ...['--insecure-registry', registry.host, '--insecure-registry', storage.host, '--insecure-registry', evil.host],
      '--format',
      'json',
    );

    // A got the password (it is configured for A); the storage host got none of it, and the realm it named nothing at all.
    assert.ok(registry.requests.some((req) => req.headers.authorization === basic));
    assert.ok(storage.requests.length >= 1);
    assert.deepEqual(
      storage.requests.map((req) => req.headers.authorization),
      storage.requests.map(() => undefined),
    );
    for (const secret of [PASSWORD, Buffer.from(`${USER}:${PASSWORD}`).toString('base64')]) {
      assert.doesNotMatch(received(storage), new RegExp(secret));
      assert.doesNotMatch(received(evil), new RegExp(secret));
      assert.doesNotMatch(r.stdout + r.stderr, new RegExp(secret));
    }
    assert.equal(evil.requests.length, 0, 'the realm a redirect target names is never asked for a token');
    // A learned no Bearer challenge from the storage host: every request A saw was Basic or bare, never a token from evil.
    assert.ok(registry.requests.every((req) => req.headers.authorization === undefined || req.headers.authorization === basic));
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const verdict = r.json();
    assert.equal(verdict.verdict, 'deny');
    assert.match(
      JSON.stringify(verdict.reasons),
      new RegExp(
        `blobs/${payload.digest}: redirected to ${storage.host.replaceAll('.', '\\.')}, which answered HTTP 401; the credentials for ${registry.host.replaceAll('.', '\\.')} go only to`,
      ),
    );
  });

  it('admits through a bearer registry whose blobs live on another host, sending that host no Authorization', async () => {
    const TOKEN = 'registry-a-bearer-token';
    let origin = '';
    const storage = await server((req, res) => {
      if (req.url?.startsWith(`/blobs/${payload.digest}`)) return res.end(payload.bytes);
      res.writeHead(404).end();
    });
    const registry = await fakeRegistry({
      authorized: (req) => req.headers.authorization === `Bearer ${TOKEN}`,
      challenge: () => `Bearer realm="${origin}/token",service="registry-a"`,
      blobsAt: () => storage.url,
      token: TOKEN,
    });
    origin = registry.url;
    const config = dockerConfig('bearer-a', { [registry.host]: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') });

    const r = await sigwatch(
      'verify',
      `${registry.host}/team/app:signed`,
      '--policies',
      policy,
      '--registry-config',
      config,
      ...['--insecure-registry', registry.host, '--insecure-registry', storage.host],
      '--format',
      'json',
    );

    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.json().verdict, 'admit');
    // The token service A's own 401 named got A's credentials; the storage host got the blob request, bare.
    const tokenRequests = registry.requests.filter((req) => req.url?.startsWith('/token'));
    assert.ok(tokenRequests.length >= 1);
    assert.ok(tokenRequests.every((req) => req.headers.authorization === basic));
    assert.equal(storage.requests.length, 1);
    assert.equal(storage.requests[0]!.headers.authorization, undefined);
    assert.doesNotMatch(received(storage), new RegExp(`${PASSWORD}|${TOKEN}`));
  });
});

describe('a normal bearer flow (docker-registry and a token server, sigwatch verify)', () => {
  let tokens: TokenServer;
  let reg: TestRegistry;
  before(async () => {
    tokens = await startTokenServer({
      users: { admin: { password: 'admin-pw', repositories: ['*'], actions: ['pull', 'push'] }, ci: { password: PASSWORD, repositories: ['team'] } },
    });
    reg = await startRegistry({ tokenAuth: tokens.auth, auth: { username: 'admin', password: 'admin-pw' } });
    await pushSamples(reg, 'team/app', samples);
  });
  after(async () => {
    await reg?.stop();
    await tokens?.close();
  });

  it("admits with the credentials configured for the registry, traded at the realm the registry's own 401 names", async () => {
    tokens.requests.length = 0;
    const config = dockerConfig('token-registry', { [reg.host]: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') });
    const r = await sigwatch(
      'verify',
      `${reg.host}/team/app:signed`,
      '--policies',
      policy,
      '--registry-config',
      config,
      ...['--insecure-registry', reg.host, '--insecure-registry', new URL(tokens.url).host],
      '--format',
      'json',
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.json().verdict, 'admit');
    assert.ok(tokens.requests.length >= 1);
    assert.deepEqual(new Set(tokens.requests.map((t) => t.username)), new Set([USER]));
    assert.ok(tokens.requests.every((t) => t.scopes.every((s) => s === 'repository:team/app:pull')));
  });
});

/**
 * Over HTTPS the configured credential goes with the first request (see
 * `preemptive` in src/registry/client.ts): no 401 for a registry the
 * configuration has credentials for, and still nothing for any other host.
 */
describe('preemptive credentials over HTTPS (sigwatch verify)', () => {
  it('sends the password with the first request, and still never to the host its blobs redirect to', async () => {
    const storage = await server((req, res) => (req.url?.startsWith(`/blobs/${payload.digest}`) ? res.end(payload.bytes) : res.writeHead(404).end()), {
      tls: true,
    });
    const registry = await fakeRegistry({
      authorized: (req) => req.headers.authorization === basic,
      challenge: () => 'Basic realm="registry-a"',
      blobsAt: () => storage.url,
      tls: true,
    });
    const config = dockerConfig('tls-registry-a', { [registry.host]: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') });

    // No host named insecure: both are HTTPS, with certificates the process trusts.
    const r = await sigwatch('verify', `${registry.host}/team/app:signed`, '--policies', policy, '--registry-config', config, '--format', 'json');

    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.json().verdict, 'admit');
    // Every request to A carried the credential, the first included: A never had to answer 401.
    assert.ok(registry.requests.length >= 3);
    assert.deepEqual(
      registry.requests.map((req) => req.headers.authorization),
      registry.requests.map(() => basic),
    );
    assert.equal(storage.requests.length, 1);
    assert.equal(storage.requests[0]!.headers.authorization, undefined);
    for (const secret of [PASSWORD, Buffer.from(`${USER}:${PASSWORD}`).toString('base64')]) assert.doesNotMatch(received(storage), new RegExp(secret));
  });

  describe('docker-registry with htpasswd, serving TLS', () => {
    let reg: TestRegistry;
    let front: RecordingFront;
    /** What the CLI connects to: counts its TCP connections, so TLS handshakes, to the front. */
    let tcp: CountingProxy;
    before(async () => {
      reg = await startRegistry({ auth: { username: USER, password: PASSWORD }, tls: true });
      await pushSamples(reg, 'team/app', samples);
      front = await startRecordingFront(reg.url);
      tcp = await startCountingProxy(front.host);
    });
    after(async () => {
      await tcp?.close();
      await front?.close();
      await reg?.stop();
    });

    const verify = (config: string) => sigwatch('verify', `${tcp.host}/team/app:signed`, '--policies', policy, '--registry-config', config, '--format', 'json');

    it('verifies by tag from a cold CLI with no 401: every request carries the configured credential', async () => {
      const seen = front.requests.length;
      const connections = tcp.connections;
      const r = await verify(dockerConfig('tls-htpasswd', { [tcp.host]: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') }));
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.json().verdict, 'admit');
      assert.equal(tcp.connections - connections, 1, 'one connection, one TLS handshake');
      // HEAD tag, signature manifest, its blob, the referrers API probe (404) and its fallback tag; before, a 401 first (6).
      // (The signature and the referrers are fetched side by side: sorted.)
      assert.deepEqual(
        front.requests
          .slice(seen)
          .map((q) => `${q.method} ${q.scheme} ${q.status}`)
          .sort(),
        ['GET Basic 200', 'GET Basic 200', 'GET Basic 404', 'GET Basic 404', 'HEAD Basic 200'],
      );
    });

    it('denies on a wrong password after one request, saying access was denied, the password nowhere in the output', async () => {
      const seen = front.requests.length;
      const wrong = 'wrong-S3cret-4d1a';
      const r = await verify(dockerConfig('tls-htpasswd-wrong', { [tcp.host]: Buffer.from(`${USER}:${wrong}`).toString('base64') }));
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const verdict = r.json();
      assert.equal(verdict.verdict, 'deny', JSON.stringify(verdict));
      assert.deepEqual(verdict.reasons, [
        `cannot resolve the image: ${tcp.host}/v2/team/app/manifests/signed: access denied with the configured credentials (HTTP 401)`,
      ]);
      for (const secret of [wrong, Buffer.from(`${USER}:${wrong}`).toString('base64')]) assert.doesNotMatch(r.stdout + r.stderr, new RegExp(secret));
      assert.deepEqual(
        front.requests.slice(seen).map((q) => `${q.scheme} ${q.status}`),
        ['Basic 401'],
      );
    });
  });
});
