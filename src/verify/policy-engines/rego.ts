import type { Program } from '../../rego/index.ts';
import { SigwatchError } from '../../errors.ts';

type RegoModule = typeof import('../../rego/index.ts');

/** The package and rule policy-controller (cosign's `rego` package) queries. */
const REGO_PACKAGE = 'sigstore';
const REGO_RULE = 'isCompliant';
const REGO_QUERY = `${REGO_RULE} = data.${REGO_PACKAGE}.${REGO_RULE}`;
/** The module's file name in messages, as upstream names it. */
const MODULE_FILE = `${REGO_PACKAGE}.rego`;

let engine: Promise<RegoModule> | undefined;

/**
 * The Rego engine (src/rego/) is imported on the first Rego policy only: the
 * build splits it into a chunk of its own, so images whose policies have none
 * never load it and the on-push cold start does not grow.
 */
function loadRego(): Promise<RegoModule> {
  engine ??= (async () => {
    const mod = await import('../../rego/index.ts');
    return mod;
  })().catch((err: unknown) => {
    engine = undefined;
    throw new SigwatchError('POLICY_ENGINE', `cannot load the Rego engine: ${(err as Error).message}`, { cause: err });
  });
  return engine;
}

/** Why a Rego policy did not pass: `error` when not compliant (or broken), `warning` alone when compliant with a warning. */
export interface RegoOutcome {
  error?: string;
  warning?: string;
}

const programs = new Map<string, Program>();

/** Parses (and caches) a policy as policy-controller does: Rego v0 syntax, `import rego.v1` honoured. */
async function program(policy: string): Promise<Program> {
  const rego = await loadRego();
  let p = programs.get(policy);
  if (!p) {
    p = rego.prepare([{ file: MODULE_FILE, source: policy }], { v1: false });
    if (programs.size >= 256) programs.delete(programs.keys().next().value!);
    programs.set(policy, p);
  }
  return p;
}

/**
 * Checks that a Rego policy parses and compiles, as `policy validate` does:
 * undefined, or OPA's message with the line and column
 * (`sigstore.rego:3:5: rego_parse_error: …`).
 */
export async function checkRego(policy: string): Promise<string | undefined> {
  const rego = await loadRego();
  try {
    await program(policy);
    return undefined;
  } catch (err) {
    if (!rego.isRegoError(err)) throw err;
    const at = err.location ? `${err.location.file}:${err.location.line}:${err.location.col}: ` : '';
    return `${at}${err.code}: ${err.detail}`;
  }
}

/**
 * cosign's `ValidateJSONWithModuleInput`, which policy-controller runs for
 * `type: rego`: the query `isCompliant = data.sigstore.isCompliant` over the
 * document as `input`. `isCompliant` true passes; a set of
 * `{"result", "error", "warning"}` objects passes when one has a true result
 * (its warning, if any, is returned as one); anything else is not compliant.
 */
export async function evaluateRego(policy: string, document: unknown, opts: { now?: number; maxSteps?: number } = {}): Promise<RegoOutcome | undefined> {
  const rego = await loadRego();
  let results: Record<string, unknown>[];
  try {
    const p = await program(policy);
    // As upstream, the policy sees the document's JSON (undefined fields dropped).
    const input: unknown = JSON.parse(JSON.stringify(document ?? null));
    results = p.query(REGO_QUERY, { input, now: opts.now, limits: opts.maxSteps ? { maxSteps: opts.maxSteps } : undefined });
  } catch (err) {
    // Fail closed with the reason: any failure of the engine is a non-compliant policy, never a pass.
    if (!rego.isRegoError(err)) return { error: `rego evaluation failed: ${(err as Error).message}` };
    return { error: `1 error occurred: ${err.message}` };
  }
  for (const r of results) {
    const response = r[REGO_RULE];
    if (Array.isArray(response)) return mapResult(response);
    if (response === true) return undefined;
  }
  return { error: `policy is not compliant for query '${REGO_QUERY}'` };
}

/** cosign's `evaluateRegoEvalMapResult`: the first compliant object wins; else the last one's error and warning. */
function mapResult(response: unknown[]): RegoOutcome | undefined {
  let out: RegoOutcome = { error: `policy is not compliant for query ${JSON.stringify(REGO_QUERY)}` };
  for (const r of response) {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) {
      return { error: `policy is not compliant for query '${REGO_QUERY}': unexpected result type ${goType(r)}` };
    }
    const o = r as Record<string, unknown>;
    for (const [field, want] of [
      ['result', 'boolean'],
      ['error', 'string'],
      ['warning', 'string'],
    ] as const) {
      if (o[field] !== undefined && o[field] !== null && typeof o[field] !== want) {
        return {
          error: `policy is not compliant for query '${REGO_QUERY}' due to parsing errors: json: cannot unmarshal ${jsonKind(o[field])} into Go struct field CosignRuleResult.${field} of type ${want === 'boolean' ? 'bool' : 'string'}`,
        };
      }
    }
    const warning = typeof o.warning === 'string' ? o.warning : '';
    const error = typeof o.error === 'string' ? o.error : '';
    if (o.result === true) return warning === '' ? undefined : { warning: `warning: ${warning}` };
    out = { warning, error: `policy is not compliant for query '${REGO_QUERY}' with errors: ${error}` };
  }
  return out;
}

function goType(v: unknown): string {
  if (v === null) return '<nil>';
  if (Array.isArray(v)) return '[]interface {}';
  if (typeof v === 'number') return 'json.Number';
  if (typeof v === 'boolean') return 'bool';
  return typeof v;
}

function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return 'object';
  return typeof v === 'boolean' ? 'bool' : typeof v;
}
