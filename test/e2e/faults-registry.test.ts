import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { verifyImage } from '../../src/verify/verify-image.ts';
import type { Verdict } from '../../src/verify/verdict.ts';
import { RegistryClient, type RegistryClientOptions } from '../../src/registry/client.ts';
import { parseImageTarget } from '../../src/registry/target.ts';
import { buildImage, buildSamples, generateKeyPair, keyPolicyYaml, signatureTag, simpleSigningPayload, type BuiltManifest } from '../support/index.ts';
import { loadPolicy, verdictText } from '../corpus/verify-fixture.ts';
import { recordFault } from '../support/faults.ts';
import { startHttpServer } from '../support/http-server.ts';
import { FAULT_MATRIX_BEARER_TOKEN, S3CRET_PW_PASSWORD } from '../support/secrets.ts';
import { testTrustRoots } from '../support/trust-roots.ts';
import { testNow } from '../support/clock.ts';

/**
 * The registry fault matrix: a registry on 127.0.0.1 that misbehaves one way
 * per test, and the real RegistryClient and verifyImage. Each fault ends in a
 * deny whose reason names it, or (for transient faults) in the verdict the
 * healthy registry gives, after bounded retries; none admits what it should
 * not. Each test records its row of docs/reliability.md (see
 * scripts/reliability-table.ts). Faults already shown elsewhere are listed
 * there, not repeated here: test/registry/http.test.ts (redirect loop on the
 * HTTP client, body caps, Retry-After 0, 500 status after attempts, hang,
 * connection refused) and test/registry/safety.test.ts (tampered blob,
 * manifest digest mismatch, 5 MiB manifest, 429 then admit, 500 forever via
 * the CLI, hang via verifyImage, Basic credentials dropped on a cross-host
 * redirect, plain HTTP to a TLS client).
 */

const FILE = 'test/e2e/faults-registry.test.ts';
const key = generateKeyPair();
const signed = buildSamples({ dockerReference: 'registry.example.com/team/app', key: key.privateKey, otherKey: generateKeyPair().privateKey }).find(
  (s) => s.tag === 'signed',
)!;
const signature = signed.signature!;
const payload = signature.blobs.find((b) => b.digest === signature.json.layers![0]!.digest)!;
const policy = loadPolicy(keyPolicyYaml('release', '**', key.publicKeyPem));
const work = mkdtempSync(join(tmpdir(), 'sigwatch-faults-'));

type Server = Awaited<ReturnType<typeof startHttpServer>>;
const servers: { close(): Promise<void> }[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(work, { recursive: true, force: true });
});

type Fault = (req: IncomingMessage, res: ServerResponse) => boolean | void;
const isBlob = (req: IncomingMessage) => req.url === `/v2/team/app/blobs/${payload.digest}`;
const isSignatureManifest = (req: IncomingMessage) => req.url === `/v2/team/app/manifests/${signatureTag(signed.image.digest)}`;

/** Just enough of a registry for the signed sample: `team/app:signed`, its `.sig` and blobs; `fault` answers first. */
async function fakeRegistry(fault?: Fault, opts: { blobsAt?: string; bearer?: string } = {}): Promise<Server> {
  const manifests = new Map<string, BuiltManifest>([
    ['signed', signed.image],
    [signed.image.digest, signed.image],
    [signatureTag(signed.image.digest), signature],
  ]);
  const blobs = new Map(signature.blobs.map((b) => [b.digest, b.bytes]));
  let origin = '';
  const server = await startHttpServer((req, res) => {
    if (fault?.(req, res)) return;
    if (opts.bearer) {
      if (req.url?.startsWith('/token')) return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: opts.bearer }));
      if (req.headers.authorization !== `Bearer ${opts.bearer}`) {
        return res.writeHead(401, { 'www-authenticate': `Bearer realm="${origin}/token",service="fake"` }).end();
      }
    }
    const [, kind, ref] = /^\/v2\/team\/app\/(manifests|blobs)\/([^/?]+)$/.exec(req.url ?? '') ?? [];
    const manifest = kind === 'manifests' ? manifests.get(ref!) : undefined;
    if (manifest) {
      res.writeHead(200, { 'content-type': manifest.mediaType, 'docker-content-digest': manifest.digest, 'content-length': manifest.bytes.length });
      return res.end(req.method === 'HEAD' ? undefined : manifest.bytes);
    }
    const blob = kind === 'blobs' ? blobs.get(ref!) : undefined;
    if (blob && opts.blobsAt) return res.writeHead(307, { location: `${opts.blobsAt}/${ref}` }).end();
    if (blob) return res.end(blob);
    res.writeHead(404).end();
  });
  origin = server.url;
  servers.push(server);
  return server;
}

function verify(host: string, opts: Partial<RegistryClientOptions> = {}): Promise<Verdict> {
  const client = new RegistryClient({ now: testNow, insecureHosts: [host], backoffMs: 1, timeoutMs: 5_000, ...opts });
  return verifyImage(parseImageTarget(`${host}/team/app:signed`), () => [policy], {
    registry: (ref) => client.repository(ref),
    trustRootResolver: testTrustRoots(),
  });
}

/** One row of the table; `healthy` is the verdict the registry gives without the fault (a transient fault must end there). */
function record(fault: string, verdict: Verdict, outcome: string, test: string, healthy: 'admit' | 'deny' = 'deny'): void {
  recordFault({
    component: 'registry',
    fault,
    outcome: `${verdict.verdict}: ${outcome}`,
    admitted: verdict.verdict === 'admit' && healthy === 'deny',
    lost: false,
    test: `${FILE}: ${test}`,
  });
}

describe('registry fault matrix', () => {
  it('admits the signed sample from the healthy fake registry (the baseline every fault breaks)', async () => {
    const server = await fakeRegistry();
    assert.equal((await verify(server.host)).verdict, 'admit');
  });

  for (const status of [500, 502, 503]) {
    it(`retries HTTP ${status} on the signature manifest, then denies naming it after 3 attempts`, async () => {
      const server = await fakeRegistry((req, res) => isSignatureManifest(req) && !!res.writeHead(status).end());
      const verdict = await verify(server.host, { attempts: 3 });
      assert.equal(verdict.verdict, 'deny');
      assert.match(verdictText(verdict), new RegExp(`${server.host}/team/app:sha256-[0-9a-f]{64}\\.sig: registry answered HTTP ${status}`));
      assert.equal(server.requests.filter(isSignatureManifest).length, 3);
      record(`HTTP ${status} forever (signature manifest)`, verdict, `registry answered HTTP ${status}, after 3 attempts`, `HTTP ${status}`);
    });
  }

  it('rides out 502 then 503 on the blob (transient), admitting on the third attempt', async () => {
    const statuses = [502, 503];
    const server = await fakeRegistry((req, res) => isBlob(req) && statuses.length > 0 && !!res.writeHead(statuses.shift()!).end());
    const verdict = await verify(server.host, { attempts: 3 });
    assert.equal(verdict.verdict, 'admit', verdictText(verdict));
    assert.equal(server.requests.filter(isBlob).length, 3);
    record('HTTP 502 then 503 then 200 (blob)', verdict, 'retried twice, then the healthy verdict', 'transient 5xx', 'admit');
  });

  it('honours a 429 Retry-After given as an HTTP date, then admits', async () => {
    let limited = false;
    const server = await fakeRegistry((req, res) => {
      if (!isBlob(req) || limited) return false;
      limited = true;
      res.writeHead(429, { 'retry-after': new Date(Date.now() + 2_000).toUTCString() }).end();
      return true;
    });
    const started = Date.now();
    const verdict = await verify(server.host);
    assert.equal(verdict.verdict, 'admit', verdictText(verdict));
    // HTTP dates have whole seconds: at least one of the two is waited for.
    assert.ok(Date.now() - started >= 900, 'waited for the date');
    record('429 with Retry-After as an HTTP date', verdict, 'waited until the date, then the healthy verdict', '429 HTTP date', 'admit');
  });

  it('does not wait out a Retry-After beyond its bound: denies at once, naming 429', async () => {
    const server = await fakeRegistry((req, res) => req.method === 'HEAD' && !!res.writeHead(429, { 'retry-after': '3600' }).end());
    const started = Date.now();
    const verdict = await verify(server.host, { maxRetryAfterMs: 2_000 });
    assert.equal(verdict.verdict, 'deny');
    assert.equal(verdict.reasons[0], `cannot resolve the image: ${server.host}/team/app:signed: registry answered HTTP 429`);
    assert.ok(Date.now() - started < 2_000, 'an hour-long Retry-After is not waited for');
    assert.equal(server.requests.length, 1);
    record('429 with Retry-After: 3600', verdict, 'registry answered HTTP 429; not waited (over the 10 s bound)', '429 long Retry-After');
  });

  it('denies when every connection is reset, naming ECONNRESET, after the attempts', async () => {
    const server = await fakeRegistry((req) => {
      req.socket.destroy();
      return true;
    });
    const verdict = await verify(server.host, { attempts: 2 });
    assert.equal(verdict.verdict, 'deny');
    assert.match(verdict.reasons[0]!, new RegExp(`^cannot resolve the image: ${server.host}/v2/team/app/manifests/signed: (ECONNRESET|UND_ERR_SOCKET)`));
    assert.equal(server.requests.length, 2);
    record('connection reset on every request', verdict, 'REGISTRY_UNREACHABLE (ECONNRESET), after 2 attempts', 'connection reset');
  });

  it('retries a connection reset on the blob once, then admits', async () => {
    let resets = 1;
    const server = await fakeRegistry((req) => {
      if (!isBlob(req) || resets-- <= 0) return false;
      req.socket.destroy();
      return true;
    });
    const verdict = await verify(server.host);
    assert.equal(verdict.verdict, 'admit', verdictText(verdict));
    record('connection reset once, then healthy', verdict, 'retried, then the healthy verdict', 'reset once', 'admit');
  });

  it('denies a signature blob cut short (Content-Length larger than the body sent)', async () => {
    const server = await fakeRegistry((req, res) => {
      if (!isBlob(req)) return false;
      res.writeHead(200, { 'content-length': payload.bytes.length });
      res.write(payload.bytes.subarray(0, 10));
      setTimeout(() => req.socket.destroy(), 20);
      return true;
    });
    const verdict = await verify(server.host, { attempts: 2 });
    assert.equal(verdict.verdict, 'deny');
    assert.match(verdictText(verdict), new RegExp(`${server.host}/v2/team/app/blobs/${payload.digest}: `));
    assert.equal(server.requests.filter(isBlob).length, 2, 'a truncated body is a network failure: retried');
    record('truncated body (connection closed mid-blob)', verdict, 'REGISTRY_UNREACHABLE naming the blob, after 2 attempts', 'truncated body');
  });

  it('denies a signature manifest whose body is longer than its Content-Length (read to the declared length: not JSON)', async () => {
    const server = await rawRegistry((path) => {
      if (path !== `/v2/team/app/manifests/${signatureTag(signed.image.digest)}`) return undefined;
      // Declares half the manifest and sends all of it: the rest must never be read as part of it.
      return { declared: Math.floor(signature.bytes.length / 2), body: signature.bytes, contentType: signature.mediaType };
    });
    const verdict = await verify(server.host, { attempts: 1 });
    assert.equal(verdict.verdict, 'deny');
    assert.match(verdictText(verdict), /manifest is not valid JSON/);
    record('body longer than its Content-Length', verdict, 'read to the declared length only: "manifest is not valid JSON"', 'body over Content-Length');
  });

  it('denies a signature manifest that does not hash to the digest its descriptor names (served by digest)', async () => {
    // The signature layer's descriptor names the payload; the registry serves the payload of another image.
    const otherPayload = simpleSigningPayload('registry.example.com/team/app', buildImage({ seed: 'not-the-signed-one' }).digest);
    assert.equal(otherPayload.length, payload.bytes.length, 'same size: only the digest can tell');
    const server = await fakeRegistry((req, res) => isBlob(req) && !!res.end(otherPayload));
    const verdict = await verify(server.host);
    assert.equal(verdict.verdict, 'deny');
    assert.match(verdictText(verdict), new RegExp(`${payload.digest}: content hashes to sha256:[0-9a-f]{64}, expected ${payload.digest}`));
    record('another valid signed payload served for the blob', verdict, 'DIGEST_MISMATCH: the blob is not the content its descriptor names', 'wrong digest');
  });

  it('never lets a digest from a manifest walk the URL to another path of the registry (credentials would follow)', async () => {
    const hostile = JSON.parse(signature.bytes.toString()) as { layers: { digest: string }[] };
    hostile.layers[0]!.digest = 'sha256:../../../../v2/_catalog';
    const bytes = Buffer.from(JSON.stringify(hostile));
    const server = await fakeRegistry((req, res) => {
      if (req.url === '/v2/_catalog') return !!res.end('{"repositories":["secret/repo"]}');
      return isSignatureManifest(req) && !!res.writeHead(200, { 'content-type': signature.mediaType }).end(bytes);
    });
    const verdict = await verify(server.host);
    assert.equal(verdict.verdict, 'deny');
    assert.match(verdictText(verdict), /layers\[0\]: descriptor digest "sha256:\.\.\/\.\.\/\.\.\/\.\.\/v2\/_catalog" is not a digest/);
    assert.deepEqual(
      server.requests.map((r) => r.url).filter((u) => !u?.startsWith('/v2/team/app/')),
      [],
    );
    record(
      'a layer digest that is a path (sha256:../../v2/_catalog)',
      verdict,
      'REGISTRY_PROTOCOL: not a digest; no request outside the repository',
      'digest path traversal',
    );
  });

  it('refuses a 100 MiB signature manifest streamed without Content-Length after 4 MiB, memory bounded', async () => {
    let sent = 0;
    let stopped = false;
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const server = await fakeRegistry((req, res) => {
      if (!isSignatureManifest(req)) return false;
      res.writeHead(200, { 'content-type': signature.mediaType });
      const pump = () => {
        while (!stopped && sent < 100 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => (stopped = true));
      pump();
      return true;
    });
    global.gc?.();
    const before = process.memoryUsage();
    const verdict = await verify(server.host);
    const grown = process.memoryUsage().arrayBuffers - before.arrayBuffers;
    assert.equal(verdict.verdict, 'deny');
    assert.match(verdictText(verdict), /response exceeds the 4194304-byte limit/);
    assert.ok(sent < 32 * 1024 * 1024, `the server got to send ${sent} bytes before the client hung up`);
    assert.ok(grown < 48 * 1024 * 1024, `buffers grew by ${grown} bytes`);
    record(
      '100 MiB manifest, no Content-Length',
      verdict,
      `TOO_LARGE after 4 MiB; ${Math.round(sent / 1048576)} MiB sent before the client hung up`,
      '100 MiB manifest',
    );
  });

  it('refuses a 100 MiB manifest by its Content-Length without reading it', async () => {
    let sent = 0;
    const server = await fakeRegistry((req, res) => {
      if (!isSignatureManifest(req)) return false;
      res.writeHead(200, { 'content-type': signature.mediaType, 'content-length': 100 * 1024 * 1024 });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = () => {
        while (sent < 100 * 1024 * 1024 && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
      };
      pump();
      return true;
    });
    const verdict = await verify(server.host);
    assert.equal(verdict.verdict, 'deny');
    assert.match(verdictText(verdict), /response of 104857600 bytes exceeds the 4194304-byte limit/);
    assert.ok(sent < 32 * 1024 * 1024, `${sent} bytes sent`);
    record('100 MiB manifest with Content-Length', verdict, 'TOO_LARGE from the declared length, body not read', '100 MiB declared');
  });

  it('denies a redirect loop on the signature blob after 5 hops', async () => {
    const server = await fakeRegistry((req, res) => {
      if (!req.url?.startsWith('/loop') && !isBlob(req)) return false;
      res.writeHead(302, { location: `/loop/${Math.random()}` }).end();
      return true;
    });
    const verdict = await verify(server.host, { attempts: 1 });
    assert.equal(verdict.verdict, 'deny');
    assert.match(verdictText(verdict), /more than 5 redirects/);
    assert.equal(server.requests.filter((r) => r.url?.startsWith('/loop')).length, 5);
    record('redirect loop (blob)', verdict, 'REGISTRY_PROTOCOL: more than 5 redirects', 'redirect loop');
  });

  it('never sends the bearer token to another host, not even when that host redirects back', async () => {
    const TOKEN = FAULT_MATRIX_BEARER_TOKEN;
    // The registry's origin, known once it listens; the CDN bounces requests back to it.
    const back = { origin: '' };
    const cdn = await startHttpServer((req, res) => {
      // The CDN bounces the first blob request back to the registry's own origin.
      if (!req.url?.includes('bounced')) return res.writeHead(307, { location: `${back.origin}/v2/team/app/blobs/${payload.digest}?bounced=1` }).end();
      res.end(payload.bytes);
    });
    servers.push(cdn);
    const registry = await fakeRegistry(
      (req, res) => {
        if (!req.url?.includes('bounced=1')) return false;
        // Back at the registry: without the token it must refuse, as a real one would.
        if (req.headers.authorization) return !!res.end(payload.bytes);
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${back.origin}/token"` }).end();
        return true;
      },
      { blobsAt: cdn.url, bearer: TOKEN },
    );
    back.origin = registry.url;
    const verdict = await verify(registry.host);
    assert.ok(cdn.requests.length >= 1);
    assert.deepEqual(
      cdn.requests.map((r) => r.headers.authorization),
      cdn.requests.map(() => undefined),
    );
    const bounced = registry.requests.filter((r) => r.url?.includes('bounced=1'));
    assert.deepEqual(
      bounced.map((r) => r.headers.authorization),
      bounced.map(() => undefined),
      'a redirect chain that leaves the registry never gets the credentials back',
    );
    // The registry refuses the bounced request without its token: a deny naming the 401, never the token.
    assert.equal(verdict.verdict, 'deny');
    assert.match(verdictText(verdict), new RegExp(`${payload.digest}: access denied .*\\(HTTP 401\\)`));
    assert.doesNotMatch(JSON.stringify(verdict), new RegExp(TOKEN));
    record(
      'redirect to another host (bearer token), which redirects back',
      verdict,
      'Authorization stripped at the first cross-origin hop and never restored',
      'cross-host redirect',
    );
  });

  for (const [what, body, reason] of [
    ['the JSON value null', 'null', '127.0.0.1:PORT/team/app: token service 127.0.0.1:PORT answered without a token'],
    [
      'a token with a line break carrying the password back',
      JSON.stringify({ token: `abc\r\nX-Leak: ${S3CRET_PW_PASSWORD}` }),
      '127.0.0.1:PORT/team/app: token service 127.0.0.1:PORT answered with a token that is not a valid header value',
    ],
    ['a 1 MiB token', JSON.stringify({ token: 'a'.repeat(1024 * 1024) }), '127.0.0.1:PORT/token: response exceeds the 65536-byte limit'],
  ] as const) {
    it(`denies a token service answering ${what}, quoting nothing it sent`, async () => {
      let origin = '';
      const server = await fakeRegistry((req, res) => {
        if (req.url?.startsWith('/token')) return !!res.writeHead(200, { 'content-type': 'application/json' }).end(body);
        if (req.headers.authorization?.startsWith('Bearer ')) return !!res.writeHead(500).end();
        return !!res.writeHead(401, { 'www-authenticate': `Bearer realm="${origin}/token",service="fake"` }).end();
      });
      origin = server.url;
      const verdict = await verify(server.host, { credentials: async () => ({ kind: 'basic', username: 'ci', password: S3CRET_PW_PASSWORD }) });
      assert.equal(verdict.verdict, 'deny');
      assert.equal(verdict.reasons[0], `cannot resolve the image: ${reason.replaceAll('127.0.0.1:PORT', server.host)}`);
      assert.doesNotMatch(JSON.stringify(verdict), new RegExp(`${S3CRET_PW_PASSWORD}|X-Leak`));
      assert.equal(server.requests.filter((r) => r.headers.authorization?.startsWith('Bearer ')).length, 0, 'no request carried the bad token');
      record(`token service answers ${what}`, verdict, reason.replaceAll('127.0.0.1:PORT', 'registry'), `token ${what}`);
    });
  }

  describe('TLS', () => {
    const tls = join(work, 'tls');
    const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
    const certFor = (name: string, san: string, days = '1') => {
      openssl(
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-subj',
        `/CN=${name}`,
        '-addext',
        `subjectAltName=${san}`,
        '-days',
        days,
        '-keyout',
        `${tls}-${name}.key`,
        '-out',
        `${tls}-${name}.crt`,
      );
      return { key: readFileSync(`${tls}-${name}.key`), cert: readFileSync(`${tls}-${name}.crt`) };
    };

    async function httpsRegistry(credentials: { key: Buffer; cert: Buffer }): Promise<{ host: string; hits: () => number }> {
      let hits = 0;
      const server = createHttpsServer(credentials, (_req, res) => {
        hits++;
        res.writeHead(404).end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      servers.push({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
      return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits };
    }

    for (const [name, make, pattern] of [
      ['a self-signed certificate for 127.0.0.1', () => certFor('selfsigned', 'IP:127.0.0.1'), /DEPTH_ZERO_SELF_SIGNED_CERT|self[- ]signed/],
      [
        'a self-signed certificate for another host name',
        () => certFor('otherhost', 'DNS:registry.example.com'),
        /ERR_TLS_CERT_ALTNAME_INVALID|DEPTH_ZERO_SELF_SIGNED_CERT|self[- ]signed/,
      ],
    ] as const) {
      it(`denies ${name}, naming the TLS failure, sending no request`, async () => {
        const server = await httpsRegistry(make());
        const client = new RegistryClient({ now: testNow, backoffMs: 1, attempts: 2 });
        const verdict = await verifyImage(parseImageTarget(`${server.host}/team/app:signed`), () => [policy], {
          registry: (ref) => client.repository(ref),
          trustRootResolver: testTrustRoots(),
        });
        assert.equal(verdict.verdict, 'deny');
        assert.match(verdict.reasons[0]!, new RegExp(`^cannot resolve the image: ${server.host}/v2/team/app/manifests/signed: `));
        assert.match(verdict.reasons[0]!, pattern);
        assert.equal(server.hits(), 0, 'no HTTP request crossed an untrusted TLS session');
        record(`TLS: ${name}`, verdict, verdict.reasons[0]!.replace(/^.*manifests\/signed: /, ''), `TLS ${name}`);
      });
    }
  });
});

/** A registry speaking raw HTTP/1.1, for answers node's HTTP server will not write (a body longer than its Content-Length). */
async function rawRegistry(answer: (path: string) => { declared: number; body: Buffer; contentType: string } | undefined): Promise<{ host: string }> {
  const sockets = new Set<Socket>();
  const reply = (socket: Socket, head: string, body: Buffer = Buffer.alloc(0)) =>
    socket.end(Buffer.concat([Buffer.from(`${head}\r\nconnection: close\r\n\r\n`), body]));
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.once('data', (data) => {
      const [method, path] = data.toString('latin1').split(' ');
      const manifests = new Map([
        ['/v2/team/app/manifests/signed', signed.image],
        [`/v2/team/app/manifests/${signed.image.digest}`, signed.image],
      ]);
      const m = manifests.get(path!);
      if (m) {
        return reply(
          socket,
          `HTTP/1.1 200 OK\r\ncontent-type: ${m.mediaType}\r\ndocker-content-digest: ${m.digest}\r\ncontent-length: ${m.bytes.length}`,
          method === 'HEAD' ? undefined : m.bytes,
        );
      }
      const a = answer(path!);
      if (!a) return reply(socket, 'HTTP/1.1 404 Not Found\r\ncontent-length: 0');
      reply(socket, `HTTP/1.1 200 OK\r\ncontent-type: ${a.contentType}\r\ncontent-length: ${a.declared}`, a.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push({
    close: () =>
      new Promise<void>((resolve) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => resolve());
      }),
  });
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}
