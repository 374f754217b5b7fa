import { checkRego } from '../verify/policy-engines/rego.ts';
import { SigwatchError } from '../errors.ts';
import { formatProblem, type PolicyProblem } from '../policy/problems.ts';
import type { ClusterImagePolicy } from '../policy/types.ts';
import { parseReference } from '../registry/reference.ts';
import { readPolicyFiles } from '../store/folder.ts';
import { collectPolicySet, policiesMatching, type LoadedPolicySet } from '../store/policy-set.ts';
import { oneOf, requirePolicies } from './args.ts';
import { POLICY_MATCH, POLICY_VALIDATE } from './commands.ts';
import { helpText, parseCommand } from './spec.ts';
import { EXIT_OK, EXIT_USAGE } from './exit-codes.ts';
import type { Io } from './io.ts';

const VALIDATE_HELP = helpText(POLICY_VALIDATE);
const MATCH_HELP = helpText(POLICY_MATCH);

export async function validateCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(POLICY_VALIDATE, args);
  if (values.help) {
    io.stdout(VALIDATE_HELP);
    return EXIT_OK;
  }
  if (positionals.length === 0) throw new SigwatchError('USAGE', `policy validate needs at least one PATH\n${VALIDATE_HELP}`);
  const files = await readPolicyFiles(positionals);
  const set = collectPolicySet(files);
  set.problems.push(...(await regoProblems(set.policies)));
  for (const p of set.problems) io.stderr(formatProblem(p));
  if (hasErrors(set)) return EXIT_USAGE;
  if (set.policies.length === 0 && set.trustRoots.length === 0) {
    io.stderr(`sigwatch: no ClusterImagePolicy or TrustRoot in ${positionals.join(', ')}: nothing to validate`);
    return EXIT_USAGE;
  }
  io.stdout(
    `valid: ${count(set.policies.length, 'ClusterImagePolicy', 'ClusterImagePolicies')}, ${count(set.trustRoots.length, 'TrustRoot', 'TrustRoots')} in ${count(files.length, 'file', 'files')}`,
  );
  return EXIT_OK;
}

export async function matchCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(POLICY_MATCH, args);
  if (values.help) {
    io.stdout(MATCH_HELP);
    return EXIT_OK;
  }
  if (positionals.length === 0) throw new SigwatchError('USAGE', `policy match needs at least one IMAGE\n${MATCH_HELP}`);
  if (!values.policies) throw new SigwatchError('USAGE', `policy match needs --policies PATH\n${MATCH_HELP}`);
  if (values.policies.startsWith('s3://')) throw new SigwatchError('CONFIG', 'S3 policy stores are not supported yet by the CLI; use a folder');
  const format = oneOf('--format', values.format, ['text', 'json'] as const, 'text');
  // Every IMAGE is checked before any output, so a typo is a usage error and not half an answer.
  const images = positionals.map(normalise);

  const set = collectPolicySet(await readPolicyFiles([values.policies]));
  for (const p of set.problems) io.stderr(formatProblem(p));
  if (hasErrors(set) && !values['skip-invalid']) return EXIT_USAGE;
  requirePolicies(set, values.policies);

  for (const { image, normalized, literal } of images) {
    const names = policiesMatching(set, image, { literal, asWritten: true })
      .map((p) => p.metadata.name)
      .sort();
    if (format === 'json') io.stdout(JSON.stringify({ image, normalized, policies: names }));
    else io.stdout(`${image} (${normalized}): ${names.length > 0 ? names.join(', ') : 'no policy matches'}`);
  }
  return EXIT_OK;
}

function normalise(image: string): { image: string; normalized: string; literal: boolean } {
  if (image.startsWith('oci:')) return { image, normalized: image, literal: true };
  try {
    return { image, normalized: parseReference(image).name, literal: false };
  } catch (err) {
    throw new SigwatchError('USAGE', `policy match: ${(err as Error).message}`);
  }
}

/**
 * Inline Rego policies that do not parse or compile, with OPA's code and the
 * line and column inside the policy text. Upstream's webhook leaves Rego
 * unchecked until an image is evaluated; a CLI check can say it at once.
 */
async function regoProblems(policies: ClusterImagePolicy[]): Promise<PolicyProblem[]> {
  const out: PolicyProblem[] = [];
  for (const policy of policies) {
    // Field paths as upstream's validation words them (no index under attestations), so the attestation is named.
    const checks: [string, string | undefined, string][] = [];
    if (policy.spec.policy?.type === 'rego') checks.push(['spec.policy.data', policy.spec.policy.data, '']);
    policy.spec.authorities.forEach((a, i) =>
      a.attestations?.forEach((att) => {
        if (att.policy?.type === 'rego') checks.push([`spec.authorities[${i}].attestations.policy.data`, att.policy.data, `attestation ${att.name}: `]);
      }),
    );
    for (const [path, data, which] of checks) {
      if (!data) continue;
      const problem = await checkRego(data);
      if (problem)
        out.push({
          file: policy.origin.file,
          document: `ClusterImagePolicy/${policy.metadata.name}`,
          path,
          message: `${which}invalid Rego: ${problem}`,
          severity: 'error',
        });
    }
  }
  return out;
}

function hasErrors(set: LoadedPolicySet): boolean {
  return set.problems.some((p) => p.severity === 'error');
}

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
