import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SigwatchError } from '../../src/errors.ts';
import { HttpClient } from '../../src/registry/http.ts';
import { startHttpServer } from '../support/http-server.ts';
import { buildImage, pushManifest, startRegistry } from '../support/index.ts';
import { startCountingProxy } from '../support/tcp-proxy.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { systemClock } from '../../src/clock.ts';

const fast = { backoffMs: 1, timeoutMs: 2000 };

describe('registry HTTP', () => {
  it('drops Authorization when a redirect leaves the host, keeps it on the same host', async () => {
    const blobs = await startHttpServer((_req, res) => res.end('blob'));
    const registry = await startHttpServer((req, res) => {
      if (req.url === '/same') return res.writeHead(307, { location: '/final' }).end();
      if (req.url === '/final') return res.end('ok');
      res.writeHead(307, { location: `${blobs.url}/blob?X-Amz-Signature=secret` }).end();
    });
    try {
      const http = new HttpClient(fast);
      const cross = await http.send(
        { method: 'GET', url: `${registry.url}/v2/x/blobs/y`, headers: { authorization: 'Basic c2VjcmV0' }, maxBytes: 100 },
        'blob',
      );
      assert.equal(cross.body.toString(), 'blob');
      assert.equal(registry.requests[0]!.headers.authorization, 'Basic c2VjcmV0');
      assert.equal(blobs.requests[0]!.headers.authorization, undefined);
      await http.send({ method: 'GET', url: `${registry.url}/same`, headers: { authorization: 'Basic c2VjcmV0' }, maxBytes: 100 }, 'x');
      assert.equal(registry.requests.at(-1)!.headers.authorization, 'Basic c2VjcmV0');
      assert.equal(http.counter.total, 4, 'every hop is a round trip');
    } finally {
      await registry.close();
      await blobs.close();
    }
  });

  it('never carries a request body (a refresh token) to another origin on a redirect', async () => {
    const other = await startHttpServer((_req, res) => res.end('{}'));
    const realm = await startHttpServer((_req, res) => res.writeHead(307, { location: `${other.url}/token` }).end());
    try {
      const http = new HttpClient(fast);
      await assert.rejects(
        http.send({ method: 'POST', url: `${realm.url}/token`, body: 'grant_type=refresh_token&refresh_token=s3cret', maxBytes: 100 }, 'token'),
        (e: SigwatchError) => e.code === 'REGISTRY_PROTOCOL' && e.message === `${realm.host}/token: redirect of a POST with a body to ${other.host} refused`,
      );
      assert.equal(other.requests.length, 0);
    } finally {
      await realm.close();
      await other.close();
    }
  });

  it('stops a redirect loop', async () => {
    const server = await startHttpServer((_req, res) => res.writeHead(302, { location: '/again' }).end());
    try {
      await assert.rejects(
        new HttpClient(fast).send({ method: 'GET', url: `${server.url}/start`, maxBytes: 10 }, 'x'),
        (e: SigwatchError) => e.code === 'REGISTRY_PROTOCOL' && /redirects/.test(e.message),
      );
    } finally {
      await server.close();
    }
  });

  it('refuses a body over the cap, declared or streamed', async () => {
    const server = await startHttpServer((req, res) => {
      if (req.url === '/declared') return res.writeHead(200, { 'content-length': '1000' }).end('x'.repeat(1000));
      res.writeHead(200); // chunked, no length: we must count as we read
      res.write('x'.repeat(600));
      res.end('x'.repeat(600));
    });
    try {
      const http = new HttpClient(fast);
      for (const path of ['/declared', '/streamed']) {
        await assert.rejects(http.send({ method: 'GET', url: `${server.url}${path}`, maxBytes: 500 }, 'x'), (e: SigwatchError) => e.code === 'TOO_LARGE');
      }
    } finally {
      await server.close();
    }
  });

  it('retries 429 honouring Retry-After, then succeeds', async () => {
    let n = 0;
    const server = await startHttpServer((_req, res) => {
      n++;
      if (n === 1) return res.writeHead(429, { 'retry-after': '0' }).end();
      res.end('ok');
    });
    try {
      const res = await new HttpClient(fast).send({ method: 'GET', url: server.url, maxBytes: 10 }, 'x');
      assert.equal(res.status, 200);
      assert.equal(n, 2);
    } finally {
      await server.close();
    }
  });

  it('gives up on 500 forever after the configured attempts and returns the status', async () => {
    const server = await startHttpServer((_req, res) => res.writeHead(500).end());
    try {
      const res = await new HttpClient({ ...fast, attempts: 3 }).send({ method: 'GET', url: server.url, maxBytes: 10 }, 'x');
      assert.equal(res.status, 500);
      assert.equal(server.requests.length, 3);
    } finally {
      await server.close();
    }
  });

  it('times out a server that hangs', async () => {
    const server = await startHttpServer(() => undefined);
    try {
      await assert.rejects(
        new HttpClient({ timeoutMs: 200, attempts: 1 }).send({ method: 'GET', url: server.url, maxBytes: 10 }, 'x'),
        (e: SigwatchError) => e.code === 'REGISTRY_UNREACHABLE' && /timed out/.test(e.message),
      );
    } finally {
      await server.close();
    }
  });

  it('names the host, never the query string, when the connection is refused', async () => {
    const server = await startHttpServer(() => undefined);
    const url = `${server.url}/v2/app/blobs/x?token=secret`;
    await server.close();
    await assert.rejects(new HttpClient({ ...fast, attempts: 2 }).send({ method: 'GET', url, maxBytes: 10 }, 'x'), (e: SigwatchError) => {
      assert.equal(e.code, 'REGISTRY_UNREACHABLE');
      assert.match(e.message, new RegExp(`^${server.host.replace('.', '\\.')}/v2/app/blobs/x: ECONNREFUSED`));
      assert.doesNotMatch(e.message, /secret/);
      return true;
    });
  });

  it('keeps connections alive across HEADs and GETs: a warm client opens none', async () => {
    const reg = await startRegistry();
    const proxy = await startCountingProxy(reg.host);
    try {
      const image = buildImage({ seed: 'keep-alive' });
      await pushManifest(reg, 'team/app', 'v1', image);
      const client = new RegistryClient({ now: systemClock, insecureHosts: [proxy.host] });
      const repo = client.repository({ registry: proxy.host, repository: 'team/app' });
      assert.equal((await repo.resolveTag('v1'))?.digest, image.digest);
      const opened = proxy.connections;
      for (let i = 0; i < 10; i++) {
        assert.equal((await repo.resolveTag('v1'))?.digest, image.digest);
        assert.equal((await repo.getManifest(image.digest))!.digest, image.digest);
      }
      assert.equal(client.http.counter.total, 21);
      // Node's fetch closed the connection after every HEAD: 10 new connections here.
      assert.equal(proxy.connections - opened, 0, 'no new connection in a warm client');
    } finally {
      await proxy.close();
      await reg.stop();
    }
  });

  it('sends a request again on a new connection when the pooled one turns out closed, without counting it a failure', async () => {
    // A server that closes a kept-alive connection as the next request arrives: the race every idle timeout allows.
    const served = new WeakMap<object, number>();
    const server = await startHttpServer((req, res) => {
      const n = (served.get(req.socket) ?? 0) + 1;
      served.set(req.socket, n);
      if (n > 1) return req.socket.destroy();
      res.end('ok');
    });
    try {
      const http = new HttpClient({ ...fast, attempts: 1 });
      for (let i = 0; i < 3; i++) assert.equal((await http.send({ method: 'GET', url: `${server.url}/x`, maxBytes: 10 }, 'x')).body.toString(), 'ok');
      assert.equal(server.requests.length, 5, 'the first on a fresh connection, then each one resent once');
    } finally {
      await server.close();
    }
  });
});
