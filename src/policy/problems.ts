/**
 * Validation findings, worded as policy-controller (through knative's
 * `apis.FieldError`) words them, so that a message here reads the same as the
 * one `kubectl apply` prints: "missing field(s)", "expected exactly one, got
 * both", "invalid value: X", with field paths like `spec.images[0].glob`.
 *
 * One difference on purpose: knative merges every error with the same message
 * into one line listing all their paths; we keep one finding per check, so
 * that each line names one place to fix.
 */

export type Severity = 'error' | 'warning';

/** A finding inside one document, before we know which file it is in. */
export interface FieldIssue {
  message: string;
  /** Field paths relative to where the check ran; several for one-of rules. */
  paths: string[];
  /** knative's Details: the reason after the message. */
  details?: string;
  /** Ours, not upstream's: where the field really is when upstream's path does not say. */
  note?: string;
  severity: Severity;
}

/** A finding tied to a file and a document, as the CLI prints it. */
export interface PolicyProblem {
  file: string;
  /** `ClusterImagePolicy/NAME`, `TrustRoot/NAME`, or `document N` (1-based) when unnamed. */
  document: string;
  /** Field path as upstream reports it; several are joined by ", "; empty for the whole document. */
  path: string;
  message: string;
  severity: Severity;
}

export function missingField(...paths: string[]): FieldIssue {
  return { message: 'missing field(s)', paths, severity: 'error' };
}

export function missingOneOf(...paths: string[]): FieldIssue {
  return { message: 'expected exactly one, got neither', paths, severity: 'error' };
}

export function multipleOneOf(...paths: string[]): FieldIssue {
  return { message: 'expected exactly one, got both', paths, severity: 'error' };
}

export function disallowedFields(...paths: string[]): FieldIssue {
  return { message: 'must not set the field(s)', paths, severity: 'error' };
}

export function invalidValue(value: string, path: string, ...details: string[]): FieldIssue {
  const issue: FieldIssue = { message: `invalid value: ${value}`, paths: [path], severity: 'error' };
  if (details.length > 0) issue.details = details.join(', ');
  return issue;
}

/** A finding knative has no helper for: Kubernetes decoding errors, sigwatch's own warnings. */
export function generic(message: string, ...paths: string[]): FieldIssue {
  return { message, paths, severity: 'error' };
}

export function note(issues: FieldIssue[], text: string): FieldIssue[] {
  return issues.map((i) => ({ ...i, note: text }));
}

export function asWarnings(issues: FieldIssue[]): FieldIssue[] {
  return issues.map((i) => ({ ...i, severity: 'warning' }));
}

/** knative `ViaField(prefix)`: `prefix.path`, with `[i]` parts glued to their field. */
export function via(prefix: string, issues: FieldIssue[]): FieldIssue[] {
  return issues.map((i) => ({ ...i, paths: i.paths.map((p) => joinPath(prefix, p)) }));
}

/** knative `ViaFieldIndex(field, index)`: `field[index].path`. */
export function viaIndex(field: string, index: number, issues: FieldIssue[]): FieldIssue[] {
  return via(`${field}[${index}]`, issues);
}

function joinPath(prefix: string, path: string): string {
  if (path === '') return prefix;
  if (path.startsWith('[')) return `${prefix}${path}`;
  return `${prefix}.${path}`;
}

/** The problem lines of one document; paths sorted as knative prints them. */
export function toProblems(issues: FieldIssue[], file: string, document: string): PolicyProblem[] {
  return issues.map((i) => ({
    file,
    document,
    path: [...i.paths].sort().join(', '),
    message: `${i.details ? `${i.message}: ${i.details}` : i.message}${i.note ? ` (${i.note})` : ''}`,
    severity: i.severity,
  }));
}

/**
 * `FILE: KIND/NAME: PATH: MESSAGE` on one line (a warning says so before its
 * message). Line breaks inside values, such as an inline PEM key, are shown
 * as `\n` so that each problem stays one line.
 */
export function formatProblem(p: PolicyProblem): string {
  const parts = [p.file, p.document];
  if (p.path !== '') parts.push(p.path);
  parts.push(p.severity === 'warning' ? `warning: ${p.message}` : p.message);
  return parts.join(': ').replace(/\r?\n/g, '\\n');
}
