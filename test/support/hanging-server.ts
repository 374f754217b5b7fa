import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';

/**
 * Registries that never finish answering, on 127.0.0.1 with a random port:
 * - `silent`: accepts the TCP connection and never sends a byte;
 * - `stalled-body`: sends 200 and its headers (a JSON manifest of 4 KiB), then nothing;
 * - `trickle`: sends the headers, then one byte of the body a second, for ever.
 * `healthy` (optional) answers what it recognises first, so one server can be
 * healthy for some paths and hang on the others.
 */
export type Hang = 'silent' | 'stalled-body' | 'trickle';
export const HANGS: readonly Hang[] = ['silent', 'stalled-body', 'trickle'];

export interface HangingServer {
  host: string;
  /** Requests (or, for `silent`, connections) received. */
  hits: number;
  close(): Promise<void>;
}

export async function startHangingServer(hang: Hang, healthy?: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<HangingServer> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const state = { hits: 0 };
  const server =
    hang === 'silent'
      ? createNetServer((socket) => {
          state.hits++;
          socket.on('error', () => undefined);
        })
      : createHttpServer((req, res) => {
          if (healthy?.(req, res)) return;
          state.hits++;
          res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': 4096 });
          if (req.method === 'HEAD') return res.end();
          res.flushHeaders();
          if (hang === 'trickle') {
            const timer = setInterval(() => res.write('{'), 1000);
            timers.add(timer);
            res.on('close', () => clearInterval(timer));
          }
        });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    get hits() {
      return state.hits;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearInterval(t);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
