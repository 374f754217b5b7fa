/**
 * What the benches share: their figures go into one bench/results.json, each
 * bench replacing only its own sections, so that `npm run bench` (which runs
 * them one after another) leaves every figure the README's table is made from.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, get as httpGet } from 'node:http';

const RESULTS = new URL('results.json', import.meta.url);

/** Sets these top-level sections of bench/results.json, keeping the others as they are. */
export function writeResults(sections: Record<string, unknown>): void {
  let results: Record<string, unknown> = {};
  try {
    results = JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    // No results yet is a first run; anything else (a half-written file) must not be silently replaced.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  writeFileSync(RESULTS, `${JSON.stringify({ ...results, ...sections }, null, 2)}\n`);
}

/** The 25th, 50th and 75th percentiles and the count: how every figure in results.json is kept. */
export function summary(xs: readonly number[]): { median: number; p25: number; p75: number; samples: number } {
  const sorted = [...xs].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  return { median: at(0.5), p25: at(0.25), p75: at(0.75), samples: xs.length };
}

/** A and B measured alternately (ABAB…, the first of each pair swapped every round), so neither gets the quieter moments. */
export async function interleaved(rounds: number, a: (i: number) => Promise<void>, b: (i: number) => Promise<void>): Promise<{ a: number[]; b: number[] }> {
  const out = { a: [] as number[], b: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const);
    for (const which of order) {
      const s = performance.now();
      await (which === 'a' ? a : b)(i);
      out[which].push(performance.now() - s);
    }
  }
  return out;
}

/**
 * GETs to a local registry on a keep-alive node:http agent, nothing around
 * them: the request half of a floor. `connections` as sigwatch's own bound.
 */
export function rawRegistry(host: string, connections: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const [hostname, port] = host.split(':');
  const get = (path: string, accept?: string) =>
    new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
      httpGet({ host: hostname, port: Number(port), path, agent, headers: accept ? { accept } : {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      }).on('error', reject);
    });
  return { get, close: () => agent.destroy() };
}

/** What a `.sig` manifest holds that a floor reads. */
export interface SignatureLayers {
  layers: { digest: string; annotations: Record<string, string> }[];
}
