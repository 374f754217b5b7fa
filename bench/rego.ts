/**
 * Rego evaluation cost per policy: policy-controller-shaped policies (SLSA
 * provenance, vuln scan, custom predicate, a clock-based one, a spec-level
 * one) against the documents sigwatch hands them, as `evaluateRego` runs them
 * (query `isCompliant = data.sigstore.isCompliant`, programs cached by text).
 * Also: the cold import of the engine (in a fresh process, so nothing is
 * cached), the first evaluation of each policy (parse + compile + evaluate)
 * and a larger vuln report (1,000 findings) to show how evaluation scales.
 *
 *   node bench/rego.ts            (BENCH_ITERATIONS, default 2000)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { evaluateRego } from '../src/verify/policy-engines/rego.ts';
import { policyInput } from '../src/verify/evidence/attestation/statement.ts';
import { PredicateUris, Predicates } from '../test/support/attestations.ts';
import { CUSTOM_POLICY, FRESH_SCAN_POLICY, SLSA_POLICY, VULN_POLICY } from '../test/support/rego-policies.ts';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 2000);
const NOW = Date.parse('2024-05-20T00:00:00Z');
const subject = [{ name: 'registry.example/acme/app', digest: { sha256: 'a'.repeat(64) } }];
const statement = (predicateType: string, predicate: unknown) => ({ _type: 'https://in-toto.io/Statement/v1', subject, predicateType, predicate });

const SPEC_POLICY = `package sigstore
default isCompliant = false
isCompliant {
  atts := input.authorityMatches["release-key"].attestations.provenance
  count(atts) >= 1
  startswith(atts[0].digest, "sha256:")
  count(input.authorityMatches.keyless.signatures) >= 1
}
`;

const severities = (n: number) => Array.from({ length: n }, (_, i) => ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'][i % 4]!);
const cases: { name: string; policy: string; input: unknown; pass: boolean }[] = [
  {
    name: 'SLSA v0.2 provenance (builder, materials)',
    policy: SLSA_POLICY,
    input: policyInput('slsaprovenance', statement(PredicateUris.slsa02, Predicates.slsa02())),
    pass: true,
  },
  {
    name: 'vuln scan, 2 findings ({result, error})',
    policy: VULN_POLICY,
    input: policyInput('vuln', statement(PredicateUris.vuln, Predicates.vuln(['LOW', 'MEDIUM']))),
    pass: true,
  },
  {
    name: 'vuln scan, 1,000 findings',
    policy: VULN_POLICY,
    input: policyInput('vuln', statement(PredicateUris.vuln, Predicates.vuln(severities(1000)))),
    pass: false,
  },
  {
    name: 'custom predicate (the e2e check, restated)',
    policy: CUSTOM_POLICY,
    input: policyInput('custom', statement(PredicateUris.custom, Predicates.custom('foobar e2e test'))),
    pass: true,
  },
  { name: 'scan age by time.now_ns', policy: FRESH_SCAN_POLICY, input: policyInput('vuln', statement(PredicateUris.vuln, Predicates.vuln([]))), pass: true },
  {
    name: 'spec.policy over authorityMatches',
    policy: SPEC_POLICY,
    input: {
      authorityMatches: {
        'release-key': { attestations: { provenance: [{ predicateType: 'slsaprovenance', digest: `sha256:${'b'.repeat(64)}` }] } },
        keyless: { signatures: [{ id: 'sha256:c', subject: 'https://github.com/acme/app' }] },
      },
    },
    pass: true,
  },
];

/** The engine as deployed: the bundle's rego chunk (npm run build), imported in a fresh process. */
function coldImport(): { file: string; ms: number } | undefined {
  const dir = new URL('../dist/functions/on-push/index.chunks/', import.meta.url);
  if (!existsSync(dir)) return undefined;
  const chunk = readdirSync(dir).find((f) => /^rego-.*\.mjs$/.test(f));
  if (!chunk) return undefined;
  const href = new URL(chunk, dir).href;
  const script = `const t = performance.now(); await import(${JSON.stringify(href)}); console.log(performance.now() - t);`;
  const runs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    if (out.status !== 0) throw new Error(out.stderr);
    runs.push(Number(out.stdout.trim()));
  }
  return { file: `dist/functions/on-push/index.chunks/${chunk} (${Math.round(statSync(new URL(chunk, dir)).size / 1024)} KiB)`, ms: median(runs) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

// Load the engine first, so "first" below is parse + compile + one evaluation.
await evaluateRego('package sigstore\nisCompliant = true\n', {});
const rows: Record<string, string | number>[] = [];
for (const c of cases) {
  const t0 = performance.now();
  const first = await evaluateRego(c.policy, c.input, { now: NOW });
  const firstMs = performance.now() - t0;
  if ((first === undefined) !== c.pass) throw new Error(`${c.name}: expected ${c.pass ? 'pass' : 'fail'}, got ${JSON.stringify(first)}`);
  const iterations = c.name.includes('1,000') ? Math.max(20, ITERATIONS / 50) : ITERATIONS;
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t = performance.now();
    await evaluateRego(c.policy, c.input, { now: NOW });
    times.push(performance.now() - t);
  }
  rows.push({
    policy: c.name,
    'first (parse+eval) ms': first_(firstMs),
    'p50 µs': Math.round(median(times) * 1000),
    'p99 µs': Math.round(times.sort((a, b) => a - b)[Math.floor(times.length * 0.99)]! * 1000),
    runs: iterations,
  });
}

function first_(ms: number): number {
  return Math.round(ms * 100) / 100;
}

console.log(`Rego evaluation per policy (node ${process.version}, ${ITERATIONS} runs each, programs cached as in production)`);
console.table(rows);
const cold = coldImport();
console.log(
  cold
    ? `cold import of the bundled engine, ${cold.file}, fresh process, median of 5: ${cold.ms.toFixed(1)} ms`
    : 'cold import: run `npm run build` first to measure the bundled engine',
);
