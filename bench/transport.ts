/**
 * `npm run bench` (part): how a tag is resolved, measured four ways against
 * one docker-registry on 127.0.0.1 behind a connection-counting proxy, the
 * choice of #23 ("GET instead of HEAD, or an HTTP client/agent that keeps HEAD
 * connections alive — measure both"):
 *
 * - `fetch` HEAD (the old transport): undici closes the connection after a HEAD;
 * - `fetch` GET: the connection stays, but the manifest body is read too;
 * - node:http keep-alive agent, HEAD (the transport sigwatch uses now);
 * - node:http keep-alive agent, GET.
 *
 * Time and CPU are sampled interleaved round by round (the order rotates each
 * round): median and p25–p75 of the wall time of one request, and CPU per
 * request. New TCP connections per request are counted apart, 100 requests of
 * each in a row: the two `fetch` variants share one connection pool, so
 * interleaved, a HEAD's closed connection would be charged to the next GET.
 * Writes `transport` into bench/results.json.
 */
import { Agent, request } from 'node:http';
import { buildImage, pushManifest, startRegistry } from '../test/support/index.ts';
import { startCountingProxy } from '../test/support/tcp-proxy.ts';
import { writeResults } from './support.ts';

const ROUNDS = Number(process.env.BENCH_TRANSPORT_ROUNDS ?? 400);
const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

const reg = await startRegistry();
const proxy = await startCountingProxy(reg.host);
try {
  const image = buildImage({ seed: 'bench-transport' });
  await pushManifest(reg, 'bench/transport', 'v1', image);
  const url = `http://${proxy.host}/v2/bench/transport/manifests/v1`;
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const viaAgent = (method: 'GET' | 'HEAD') =>
    new Promise<string>((resolve, reject) => {
      const r = request(url, { method, agent, headers: { accept: ACCEPT } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(String(res.headers['docker-content-digest'])));
        res.on('error', reject);
      });
      r.on('error', reject);
      r.end();
    });
  const viaFetch = async (method: 'GET' | 'HEAD') => {
    const res = await fetch(url, { method, headers: { accept: ACCEPT } });
    if (method === 'GET') await res.arrayBuffer();
    return String(res.headers.get('docker-content-digest'));
  };
  const variants: [string, () => Promise<string>][] = [
    ['fetch HEAD', () => viaFetch('HEAD')],
    ['fetch GET', () => viaFetch('GET')],
    ['node:http keep-alive HEAD', () => viaAgent('HEAD')],
    ['node:http keep-alive GET', () => viaAgent('GET')],
  ];
  // Warm each once: the first request of any of them opens a connection.
  for (const [, run] of variants) if ((await run()) !== image.digest) throw new Error('transport bench: wrong digest');
  const samples = new Map(variants.map(([name]) => [name, { ms: [] as number[], connections: 0, cpuUs: 0 }]));
  const IN_A_ROW = 100;
  for (const [name, run] of variants) {
    const before = proxy.connections;
    for (let i = 0; i < IN_A_ROW; i++) await run();
    samples.get(name)!.connections = proxy.connections - before;
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < variants.length; k++) {
      const [name, run] = variants[(k + round) % variants.length]!;
      const s = samples.get(name)!;
      const cpu = process.cpuUsage();
      const t = performance.now();
      await run();
      s.ms.push(performance.now() - t);
      const used = process.cpuUsage(cpu);
      s.cpuUs += used.user + used.system;
    }
  }
  agent.destroy();
  console.log(`resolving a tag, ${ROUNDS} interleaved rounds (one docker-registry on 127.0.0.1, through a counting proxy)`);
  const out: Record<string, unknown> = {};
  for (const [name, s] of samples) {
    const r = {
      median: pct(s.ms, 50),
      p25: pct(s.ms, 25),
      p75: pct(s.ms, 75),
      samples: s.ms.length,
      newConnectionsPerRequest: s.connections / IN_A_ROW,
      cpuUsPerRequest: s.cpuUs / ROUNDS,
    };
    out[name] = r;
    console.log(
      `  ${name.padEnd(28)} ${r.median.toFixed(3)} ms (${r.p25.toFixed(3)}–${r.p75.toFixed(3)}), ${r.newConnectionsPerRequest.toFixed(2)} new connections per request, ${r.cpuUsPerRequest.toFixed(0)} µs CPU`,
    );
  }
  writeResults({ transport: out });
} finally {
  await proxy.close();
  await reg.stop();
}
