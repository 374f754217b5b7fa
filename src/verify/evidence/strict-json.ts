import { containerCount, duplicateKey, goFieldMatches, isObject } from '../../json.ts';

/** Objects and arrays one piece of evidence may hold: pushed content must not become millions of live objects. */
const MAX_EVIDENCE_CONTAINERS = 200_000;
import { VerificationError } from '../errors.ts';

/**
 * Evidence JSON read as strictly as the strictest upstream reader:
 * `JSON.parse` keeps the last of two equal keys, as Go's encoding/json does,
 * but sigstore-go and cosign read bundles and in-toto statements with
 * protojson, which refuses the document; a signer's tool and a verifier that
 * disagree on which value counts must not let the verifier admit. So a key
 * twice in one object, at any depth, makes the document unreadable.
 * `what` names the document in the reason (`in-toto statement`).
 */
export function parseEvidenceJson(text: string, what: string): unknown {
  // Real evidence has a few hundred; a large SBOM statement tens of thousands.
  if (containerCount(text, MAX_EVIDENCE_CONTAINERS) > MAX_EVIDENCE_CONTAINERS) {
    throw new VerificationError('EVIDENCE_MALFORMED', `${what} has more than ${MAX_EVIDENCE_CONTAINERS} JSON objects and arrays; not read`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new VerificationError('EVIDENCE_MALFORMED', `${what} is not valid JSON`);
  }
  const dup = duplicateKey(text);
  if (dup) {
    throw new VerificationError(
      'EVIDENCE_MALFORMED',
      `${what} has the key "${dup.key.slice(0, 64)}" twice${dup.path ? ` in ${dup.path.slice(0, 120)}` : ''}; duplicate keys are refused (sigstore-go's protojson refuses them, JSON.parse and Go's encoding/json would keep the last)`,
    );
  }
  return json;
}

/**
 * The shape of a Go struct as encoding/json decodes into it: each field's
 * JSON name, with the struct (or, in a one-element array, the struct of each
 * list element) its value decodes into; `null` for anything else (a string,
 * a map, whose keys Go matches exactly).
 */
export interface GoStruct {
  readonly [field: string]: GoStruct | readonly [GoStruct] | null;
}

/**
 * Refuses a key that Go's encoding/json would read as a field of `shape`
 * without being spelled as that field (`"Critical"` for `critical`): Go
 * matches names case-insensitively and keeps the last match, JavaScript reads
 * the exact key, so the two could read different values from one document.
 */
export function refuseGoFieldVariants(value: unknown, shape: GoStruct, what: string, path = ''): void {
  if (!isObject(value)) return;
  const fields = Object.keys(shape);
  for (const key of Object.keys(value)) {
    const field = fields.find((f) => f !== key && goFieldMatches(key, f));
    if (field !== undefined) {
      throw new VerificationError(
        'EVIDENCE_MALFORMED',
        `${what} has the key "${key}"${path ? ` in ${path}` : ''}, which cosign (Go's encoding/json, case-insensitive) reads as "${field}"; refused as ambiguous`,
      );
    }
  }
  for (const field of fields) {
    const inner = shape[field];
    const at = path ? `${path}.${field}` : field;
    if (Array.isArray(inner)) {
      const list = value[field];
      if (Array.isArray(list)) list.forEach((item, i) => refuseGoFieldVariants(item, inner[0] as GoStruct, what, `${at}[${i}]`));
    } else if (inner) refuseGoFieldVariants(value[field], inner as GoStruct, what, at);
  }
}
