import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { testTls } from './tls.ts';

export interface TestHttpServer {
  host: string;
  url: string;
  requests: IncomingMessage[];
  close(): Promise<void>;
}

/**
 * A throwaway HTTP server on 127.0.0.1 with a random port, for fault tests;
 * with `tls`, HTTPS with a certificate of the test CA this process trusts
 * (tls.ts), so that clients reach it as a real `https://` host.
 */
export async function startHttpServer(handler: (req: IncomingMessage, res: ServerResponse) => void, opts: { tls?: boolean } = {}): Promise<TestHttpServer> {
  const requests: IncomingMessage[] = [];
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    requests.push(req);
    handler(req, res);
  };
  const tls = opts.tls ? await testTls() : undefined;
  const server = tls ? createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, listener) : createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
