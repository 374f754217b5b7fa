import { checkRego } from '../attest/rego.ts';
import { SigwatchError } from '../errors.ts';
import { formatProblem, type PolicyProblem } from '../policy/problems.ts';
import type { ClusterImagePolicy } from '../policy/types.ts';
import { parseReference } from '../registry/reference.ts';
import { readPolicyFiles } from '../store/folder.ts';
import { collectPolicySet, policiesMatching, type LoadedPolicySet } from '../store/policy-set.ts';
import { oneOf, parseCommandArgs } from './args.ts';
import { EXIT_OK, EXIT_USAGE, type Io } from './main.ts';

const VALIDATE_HELP = `usage: sigwatch policy validate PATH...

Checks ClusterImagePolicy and TrustRoot documents (policy.sigstore.dev/v1alpha1
or v1beta1) with policy-controller's own rules and messages. PATH is a YAML or
JSON file (one or more --- documents) or a folder, read recursively, of *.yaml,
*.yml and *.json files. All PATHs form one policy set: names must be unique
across them and every trustRootRef must name a TrustRoot among them.

Each problem is one line on stderr: FILE: KIND/NAME: FIELD.PATH: MESSAGE
Warnings ("warning: …") point at surprises and do not fail the check.

exit codes: 0 valid, 2 invalid, unreadable or no documents`;

const MATCH_HELP = `usage: sigwatch policy match IMAGE... --policies PATH [--format text|json]

Which policies' spec.images globs cover each IMAGE, with policy-controller's glob
rules: IMAGE is read as a full reference (busybox is
index.docker.io/library/busybox:latest), then as written when that is shorter
(upstream's fallback), * stops at "/", ** does not; a Docker Hub short-name glob
(team/*) is also read as index.docker.io/team/*. No network. An oci:PATH image
is matched as written. In a cluster images are pinned (repo@sha256:...) before
matching: give that form to see what admission sees.

options:
  --policies PATH      ClusterImagePolicy YAML/JSON file or folder (required)
  --format text|json   json: one {"image","normalized","policies"} object per line
  --skip-invalid       match against the valid policies and report the invalid ones

exit codes: 0 done (whether or not anything matched), 2 usage or invalid policies`;

export async function validateCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs('policy validate', args, { help: { type: 'boolean', short: 'h' } });
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
    io.stderr(`sigwatch policy validate: no ClusterImagePolicy or TrustRoot in ${positionals.join(', ')}`);
    return EXIT_USAGE;
  }
  io.stdout(`valid: ${count(set.policies.length, 'ClusterImagePolicy', 'ClusterImagePolicies')}, ${count(set.trustRoots.length, 'TrustRoot', 'TrustRoots')} in ${count(files.length, 'file', 'files')}`);
  return EXIT_OK;
}

export async function matchCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs('policy match', args, {
    policies: { type: 'string' },
    format: { type: 'string' },
    'skip-invalid': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
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
      if (problem) out.push({ file: policy.origin.file, document: `ClusterImagePolicy/${policy.metadata.name}`, path, message: `${which}invalid Rego: ${problem}`, severity: 'error' });
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
