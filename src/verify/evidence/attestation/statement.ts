import { isObject } from '../../../json.ts';
import { VerificationError } from '../../errors.ts';
import { parseEvidenceJson } from '../strict-json.ts';

/** The payload type of a DSSE envelope holding an in-toto statement (cosign `types.IntotoPayloadType`). */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/** An in-toto statement (v0.1 or v1) as signed: only the fields the spec defines. */
export interface Statement {
  _type?: string;
  subject: unknown[];
  predicateType: string;
  predicate?: unknown;
}

const STATEMENT_FIELDS = new Set(['_type', 'subject', 'predicateType', 'predicate']);

/**
 * Reads the statement a verified envelope carries. Like cosign (protojson into
 * in-toto's `Statement`), an unknown top-level field, or any key twice in one
 * object (`subject` twice: JSON.parse would keep the last, protojson refuses),
 * makes the statement unreadable rather than silently resolved.
 */
export function parseStatement(payload: Buffer): Statement | { error: string } {
  let json: unknown;
  try {
    json = parseEvidenceJson(payload.toString('utf8'), 'in-toto statement');
  } catch (err) {
    if (err instanceof VerificationError) return { error: err.message };
    throw err;
  }
  if (!isObject(json)) return { error: 'in-toto statement is not a JSON object' };
  const unknown = Object.keys(json).find((k) => !STATEMENT_FIELDS.has(k));
  if (unknown !== undefined) return { error: `in-toto statement has an unknown field "${unknown}"` };
  if (typeof json.predicateType !== 'string' || json.predicateType === '') return { error: 'in-toto statement has no predicateType' };
  if (json._type !== undefined && typeof json._type !== 'string') return { error: 'in-toto statement _type is not a string' };
  if (!Array.isArray(json.subject)) return { error: 'in-toto statement has no subject list' };
  return json as unknown as Statement;
}

/** Whether a subject of the statement names this image digest (`sha256:<hex>`). */
export function namesDigest(statement: Statement, imageDigest: string): boolean {
  const [algorithm, hex] = imageDigest.split(':');
  if (!algorithm || !hex) return false;
  return statement.subject.some((s) => isObject(s) && isObject(s.digest) && s.digest[algorithm] === hex);
}

/** The subject digests a statement names, for a reason that says what it was for. */
export function subjectDigests(statement: Statement): string[] {
  const out: string[] = [];
  for (const s of statement.subject) {
    if (!isObject(s) || !isObject(s.digest)) continue;
    for (const [alg, value] of Object.entries(s.digest)) if (typeof value === 'string') out.push(`${alg}:${value}`);
  }
  return out;
}

/**
 * The document an attestation policy is evaluated against: the whole
 * statement, as cosign's `AttestationToPayloadJSON` hands it to
 * policy-controller. Two short names re-shape it as cosign's Go types do:
 * `vuln` (cosign's `CosignVulnStatement`: no `_type`, fixed predicate fields)
 * and `slsaprovenance` (in-toto's SLSA v0.2 statement: unknown predicate
 * fields dropped, `builder.id` and `buildType` always present).
 */
export function policyInput(requestedType: string, statement: Statement): Record<string, unknown> {
  const header = { ...(statement._type ? { _type: statement._type } : {}), subject: statement.subject, predicateType: statement.predicateType };
  if (requestedType === 'vuln') {
    const { _type: _, ...rest } = header;
    return { ...rest, predicate: vulnPredicate(statement.predicate) };
  }
  if (requestedType === 'slsaprovenance') return { ...header, predicate: slsa02Predicate(statement.predicate) };
  return statement.predicate === undefined ? header : { ...header, predicate: statement.predicate };
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const obj = (v: unknown): Record<string, unknown> => (isObject(v) ? v : {});
const GO_ZERO_TIME = '0001-01-01T00:00:00Z';

function vulnPredicate(p: unknown): Record<string, unknown> {
  const predicate = obj(p);
  const invocation = obj(predicate.invocation);
  const scanner = obj(predicate.scanner);
  const db = obj(scanner.db);
  const metadata = obj(predicate.metadata);
  return {
    invocation: {
      parameters: invocation.parameters ?? null,
      uri: str(invocation.uri),
      event_id: str(invocation.event_id),
      'builder.id': str(invocation['builder.id']),
    },
    scanner: { uri: str(scanner.uri), version: str(scanner.version), db: { uri: str(db.uri), version: str(db.version) }, result: scanner.result ?? null },
    metadata: { scanStartedOn: str(metadata.scanStartedOn) || GO_ZERO_TIME, scanFinishedOn: str(metadata.scanFinishedOn) || GO_ZERO_TIME },
  };
}

/** Go's `omitempty`: absent, empty string, empty list or empty object. */
function present(v: unknown): boolean {
  if (v === undefined || v === null || v === '' || v === false) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isObject(v)) return Object.keys(v).length > 0;
  return true;
}

function pick(source: Record<string, unknown>, fields: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) if (present(source[f])) out[f] = source[f];
  return out;
}

function slsa02Predicate(p: unknown): Record<string, unknown> {
  const predicate = obj(p);
  const invocation = obj(predicate.invocation);
  const out: Record<string, unknown> = {
    builder: { id: str(obj(predicate.builder).id) },
    buildType: str(predicate.buildType),
    invocation: {
      ...(present(invocation.configSource) ? { configSource: pick(obj(invocation.configSource), ['uri', 'digest', 'entryPoint']) } : {}),
      ...pick(invocation, ['parameters', 'environment']),
    },
  };
  if (present(predicate.buildConfig)) out.buildConfig = predicate.buildConfig;
  if (isObject(predicate.metadata)) {
    const m = predicate.metadata;
    out.metadata = {
      ...pick(m, ['buildInvocationId', 'buildStartedOn', 'buildFinishedOn']),
      completeness: pick(obj(m.completeness), ['parameters', 'environment', 'materials']),
      ...pick(m, ['reproducible']),
    };
  }
  if (Array.isArray(predicate.materials) && predicate.materials.length > 0) {
    out.materials = predicate.materials.map((m) => pick(obj(m), ['uri', 'digest']));
  }
  return out;
}
