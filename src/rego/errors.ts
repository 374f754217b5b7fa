export interface Location {
  file: string;
  line: number;
  col: number;
}

/**
 * OPA's error codes, so callers (and the conformance runner) can tell a
 * policy that does not parse from one that fails while it runs.
 */
export type RegoErrorCode =
  | 'rego_parse_error'
  | 'rego_compile_error'
  | 'rego_type_error'
  | 'rego_unsafe_var_error'
  | 'rego_recursion_error'
  | 'eval_conflict_error'
  | 'eval_type_error'
  | 'eval_builtin_error'
  | 'eval_limit_error'
  | 'eval_cancel_error';

export class RegoError extends Error {
  readonly code: RegoErrorCode;
  readonly location: Location | undefined;
  /** The message without the location and code OPA puts in front of it. */
  readonly detail: string;
  constructor(code: RegoErrorCode, detail: string, location?: Location) {
    super(location ? `${location.file}:${location.line}: ${code}: ${detail}` : `${code}: ${detail}`);
    this.name = 'RegoError';
    this.code = code;
    this.detail = detail;
    this.location = location;
  }
}
