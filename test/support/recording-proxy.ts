import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { createServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { testTls } from './tls.ts';

/** One request that went through the front, as the registry answered it. */
export interface RecordedRequest {
  method: string;
  /** Path and query. */
  path: string;
  status: number;
  /** The Authorization scheme sent (`Basic`, `Bearer`), or undefined when none. */
  scheme: string | undefined;
}

export interface RecordingFront {
  /** `127.0.0.1:PORT`: the registry part of an image reference, served over HTTPS. */
  host: string;
  url: string;
  /** Every request so far, in the order the answers came. */
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/**
 * An HTTPS front (certificate from the test CA, see tls.ts) for a registry at
 * `target` (`http://…` or `https://…`), passing every request through as it
 * is and recording its method, path, answer and Authorization scheme, as a
 * TLS-terminating load balancer in front of a registry would: for counting
 * what a process whose client we cannot reach (the CLI) sends, and how many
 * of its requests were answered 401.
 */
export async function startRecordingFront(target: string): Promise<RecordingFront> {
  const tls = await testTls();
  const upstream = new URL(target);
  const requests: RecordedRequest[] = [];
  const server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    const send = upstream.protocol === 'https:' ? httpsRequest : httpRequest;
    const headers: IncomingHttpHeaders = { ...req.headers, host: upstream.host };
    const out = send({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (answer) => {
      requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        status: answer.statusCode ?? 0,
        scheme: req.headers.authorization?.split(' ')[0],
      });
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.writeHead(502).end());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    url: `https://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
