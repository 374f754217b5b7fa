/**
 * Cold start of each Lambda bundle: a fresh node imports dist/functions/<name>/index.mjs
 * (the module's init: reading the environment, building the clients and the
 * pipeline) and checks that `handler` is a function, against bare node started
 * the same way. Rounds are interleaved: each runs bare node and every bundle
 * once, starting one place later each round, so that none gets the quiet moments.
 *
 * `npm run bench` runs it first, in a process of its own with nothing else
 * running: started from bench/run.ts, each child was forked from a process
 * holding hundreds of MiB of images and a docker-registry beside it, which
 * nearly doubled bare node's start (81 ms against 41–48). Writes `coldStart` into bench/results.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { summary, writeResults } from './support.ts';

export const COLD_START_ROUNDS = 21;

const ms = (x: number) => `${x.toFixed(2)} ms`;
const spread = (s: { median: number; p25: number; p75: number }) => `${ms(s.median)} (${s.p25.toFixed(2)}–${s.p75.toFixed(2)})`;

/** What a deployed function finds in its environment, enough for every bundle's init (no AWS is contacted). */
const ENV = {
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  SIGWATCH_CONFIG_BUCKET: 'bench-config',
  SIGWATCH_TABLE: 'bench-table',
  SIGWATCH_PUSH_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/push',
  SIGWATCH_REVERIFY_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/reverify',
};

/**
 * Measures every bundle under `root`/dist/functions and prints one line per
 * figure through `line`; returns what bench/results.json keeps as `coldStart`.
 */
export function coldStart(
  root: string,
  line: (label: string, value: string) => void,
  rounds = COLD_START_ROUNDS,
): Record<string, unknown> & { bareNodeMs: number } {
  const functionsDir = join(root, 'dist/functions');
  if (!existsSync(functionsDir)) throw new Error('dist/functions missing: run `npm run build` first');
  const env = { ...process.env, ...ENV };
  const spawnMs = (args: string[]) => {
    const s = performance.now();
    const r = spawnSync(process.execPath, args, { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr.slice(0, 400)}`);
    return performance.now() - s;
  };
  // scripts/build.ts: each function's entry, and what a cold start loads (it and the chunks it imports statically).
  const built = JSON.parse(readFileSync(join(root, 'dist/sizes.json'), 'utf8')) as Record<string, { bytes: number; loadedAtInit?: number }>;
  const bundles = readdirSync(functionsDir)
    .sort()
    .map((name) => ({ name, file: join(functionsDir, name, 'index.mjs') }))
    .filter((b) => existsSync(b.file));
  const cli = join(root, 'dist/cli.js');
  if (!existsSync(cli)) throw new Error('dist/cli.js missing: run `npm run build` first');
  const runs: Record<string, number[]> = { bare: [], cliHelp: [] };
  for (const b of bundles) runs[b.name] = [];
  const order = [
    { name: 'bare', args: ['-e', ''] },
    // What a person waits for first: the CLI's dispatcher and its usage, nothing of the engine.
    { name: 'cliHelp', args: [cli, '--help'] },
    ...bundles.map((b) => ({
      name: b.name,
      args: ['--input-type=module', '-e', `const m = await import(${JSON.stringify(b.file)}); if (typeof m.handler !== 'function') process.exit(3);`],
    })),
  ];
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < order.length; k++) {
      const { name, args } = order[(k + round) % order.length]!;
      runs[name]!.push(spawnMs(args));
    }
  }
  const bare = summary(runs.bare!).median;
  const cold: Record<string, unknown> & { bareNodeMs: number } = { bareNodeMs: bare, bare: summary(runs.bare!) };
  line('bare node', spread(summary(runs.bare!)));
  const help = summary(runs.cliHelp!);
  cold.cliHelp = { ms: help.median, ratio: help.median / bare, spread: help };
  line('sigwatch --help', `${spread(help)}  = ${(help.median / bare).toFixed(2)}× bare node (target ≤ 2×)`);
  for (const { name, file } of bundles) {
    const entry = built[`dist/functions/${name}/index.mjs`];
    const atInit = entry?.loadedAtInit ?? statSync(file).size;
    const total = Object.entries(built)
      .filter(([f]) => f.startsWith(`dist/functions/${name}/`))
      .reduce((n, [, v]) => n + v.bytes, 0);
    const s = summary(runs[name]!);
    cold[name] = { loadedAtInitKiB: atInit / 1024, codeKiB: total / 1024, initMs: s.median, overBareMs: s.median - bare, ratio: s.median / bare, spread: s };
    line(
      `${name} (${(atInit / 1024).toFixed(0)} KiB loaded, ${(total / 1024).toFixed(0)} KiB in all)`,
      `${spread(s)}  = bare + ${ms(s.median - bare)} (${(s.median / bare).toFixed(2)}×)`,
    );
  }
  return cold;
}

if (import.meta.main) {
  console.log(`cold start per Lambda bundle (import + init; median of ${COLD_START_ROUNDS}, each round bare node and every bundle in turn)`);
  writeResults({ coldStart: coldStart(new URL('..', import.meta.url).pathname, (label, value) => console.log(`  ${label.padEnd(44)} ${value}`)) });
}
