import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SigwatchError } from '../../src/errors.ts';
import { HttpClient } from '../../src/registry/http.ts';
import { startHttpServer } from '../support/http-server.ts';

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
});
