import type { CommandSpec } from './spec.ts';

/**
 * Every command's definition (pure data, no imports of the commands
 * themselves, so that listing them loads nothing else): the parsers, the
 * `--help` texts and docs/cli.md are all made from these.
 */

export const VERIFY = {
  name: 'verify',
  usage: 'verify IMAGE --policies PATH|s3://BUCKET/PREFIX [options]',
  description: `Resolves IMAGE in its registry, evaluates every ClusterImagePolicy whose images globs match it the way policy-controller admits a pod, and prints the verdict.

IMAGE is host[:port]/repo:tag, host/repo@sha256:HEX, a Docker Hub short name, oci:PATH:TAG or oci:PATH@sha256:HEX (an OCI image layout folder).`,
  options: {
    policies: { type: 'string', value: 'PATH|s3://BUCKET/PREFIX', help: 'ClusterImagePolicy YAML file, folder or S3 prefix (required)' },
    format: { type: 'string', value: 'text|json', help: 'output format (default text)' },
    'registry-config': { type: 'string', value: 'FILE', help: 'Docker config.json with registry credentials' },
    'insecure-registry': {
      type: 'string',
      multiple: true,
      value: 'HOST:PORT',
      help: 'plain HTTP to this registry (repeatable; tests only; http://HOST:PORT is taken too)',
    },
    'trusted-root': { type: 'string', value: 'FILE', help: 'sigstore TrustedRoot JSON for keyless authorities' },
    at: {
      type: 'string',
      value: 'RFC3339',
      help: 'verify as of this time (only where "now" is used; certificates are checked at their Rekor or timestamp time, as cosign does)',
    },
    'no-match': { type: 'string', value: 'deny|allow|warn', help: 'verdict for an image no policy matches (default deny)' },
    timeout: {
      type: 'string',
      value: 'DURATION',
      help: 'deadline of the whole verification, e.g. 5s, 2m (default 60s); past it the verdict is a deny naming what was still waiting',
    },
    as: {
      type: 'string',
      value: 'REF',
      help: 'the registry reference an oci: image stands for (policy globs see it pinned to the digest, as policy-controller does)',
    },
    'skip-invalid': { type: 'boolean', help: 'load the valid policies and report the invalid ones' },
    'pull-secrets': {
      type: 'string',
      value: 'DIR',
      help: 'Kubernetes Secret manifests (kubectl ... -o yaml) that signaturePullSecrets name, found by metadata.name: kubernetes.io/dockerconfigjson, kubernetes.io/dockercfg, or Opaque with sa.json (a Google service account key)',
    },
    'secrets-prefix': {
      type: 'string',
      value: 'PREFIX',
      help: 'AWS Secrets Manager prefix of the secrets policies name: signaturePullSecrets (unless --pull-secrets) and key.secretRef (PREFIX/NAME)',
    },
    'kms-endpoint': {
      type: 'string',
      multiple: true,
      value: 'HOST[:PORT]',
      help: "an awskms://HOST:PORT/... endpoint other than AWS's own that KMS requests, signed with this machine's AWS credentials, may go to (repeatable; a VPC endpoint, a local KMS); any other is refused",
    },
  },
  footer: 'exit codes: 0 admit (or warn), 1 deny, 2 usage or configuration error (bad flags, unreadable, invalid, missing or empty policies)',
} as const satisfies CommandSpec;

export const POLICY_VALIDATE = {
  name: 'policy validate',
  usage: 'policy validate PATH...',
  description: `Checks ClusterImagePolicy and TrustRoot documents (policy.sigstore.dev/v1alpha1 or v1beta1) with policy-controller's own rules and messages. PATH is a YAML or JSON file (one or more --- documents) or a folder, read recursively, of *.yaml, *.yml and *.json files. All PATHs form one policy set: names must be unique across them and every trustRootRef must name a TrustRoot among them.

Each problem is one line on stderr: FILE: KIND/NAME: FIELD.PATH: MESSAGE. Warnings ("warning: ...") point at surprises and do not fail the check.`,
  options: {},
  footer: 'exit codes: 0 valid, 2 invalid, unreadable, missing or no documents',
} as const satisfies CommandSpec;

export const POLICY_MATCH = {
  name: 'policy match',
  usage: 'policy match IMAGE... --policies PATH [--format text|json]',
  description: `Which policies' spec.images globs cover each IMAGE, with policy-controller's glob rules: IMAGE is read as a full reference (busybox is index.docker.io/library/busybox:latest), then as written when that is shorter (upstream's fallback), * stops at "/", ** does not; a Docker Hub short-name glob (team/*) is also read as index.docker.io/team/*. No network. An oci:PATH image is matched as written. In a cluster images are pinned (repo@sha256:...) before matching: give that form to see what admission sees.`,
  options: {
    policies: { type: 'string', value: 'PATH', help: 'ClusterImagePolicy YAML/JSON file or folder (required)' },
    format: { type: 'string', value: 'text|json', help: 'json: one {"image","normalized","policies"} object per line' },
    'skip-invalid': { type: 'boolean', help: 'match against the valid policies and report the invalid ones' },
  },
  footer: 'exit codes: 0 done (whether or not anything matched), 2 usage, invalid, missing or empty policies',
} as const satisfies CommandSpec;

export const INVOKE = {
  name: 'invoke',
  usage: 'invoke EVENT.json [--config FILE] [--format json|line]',
  description: `Runs the on-push handler locally on an EventBridge "ECR Image Action" event (or an SQS batch of them) and prints the notification it would publish.

With the real sigwatch.yaml as --config, the event's account decides the group, its policies, its pull secrets and the topic the verdict goes to, as in the deployed functions; its local: section overrides what differs on this machine (docs/invoke.md).

Notifications go to stdout (with a sigwatch.yaml, each with the topic it goes to); log entries (JSON lines) and rejected or ignored records go to stderr.`,
  options: {
    config: {
      type: 'string',
      value: 'FILE',
      help: 'the real sigwatch.yaml (groups, associations, topics) with local overrides in its local: section (bucket, registries, pullSecrets, notifier); or a local config alone (policies, noMatch, registries, pullSecrets, notifier). Default: policies ./policies, registries as named, json output',
    },
    bucket: {
      type: 'string',
      value: 'DIR',
      help: 'with a sigwatch.yaml: the folder standing for the config bucket (policies/<group>/...); overrides local.bucket',
    },
    'pull-secrets': {
      type: 'string',
      value: 'DIR',
      help: 'Kubernetes Secret manifests that signaturePullSecrets name (with a sigwatch.yaml: DIR/<group secretsPrefix>/); overrides pullSecrets',
    },
    format: { type: 'string', value: 'json|line', help: 'output format; overrides notifier.format' },
  },
  footer: `exit codes: 0 every verdict admit or warn, 1 any deny, any image that could not be verified, a rejected record or an undeliverable verdict, 2 usage or configuration error (bad flags, unreadable or unusable event file, invalid config, missing or empty policies)`,
} as const satisfies CommandSpec;

export const ASSOCIATIONS_CHECK = {
  name: 'associations check',
  usage: 'associations check [GROUP] [--account ID] [--project ID] [--config FILE|s3://BUCKET/KEY] [--format json]',
  description: `For every AWS account associated with GROUP or a group below it (all groups without GROUP), in each of its regions: assumes the account's role as the sigwatch functions do (its ExternalId from Secrets Manager, SourceIdentity), calls sts:GetCallerIdentity with the session, and the read-only ECR calls a verification starts with (ecr:DescribeRepositories, ecr:GetAuthorizationToken).

For every GCP association there: exchanges sigwatch's AWS identity for a Google token at Google STS (workload identity federation), impersonates the association's service account if it names one, and lists Artifact Registry repositories of each project in each of its locations.

Prints what works and what is missing, then a one-line verdict naming the step each failing account stopped at. Run it with the credentials of the sigwatch functions' role (member roles and pool providers trust that role only; see docs/deploy.md).`,
  options: {
    account: { type: 'string', value: 'ID', help: 'only this AWS account' },
    project: { type: 'string', value: 'ID', help: 'only this GCP project' },
    config: {
      type: 'string',
      value: 'FILE|s3://BUCKET/KEY',
      help: 'the sigwatch configuration (default: s3://$SIGWATCH_CONFIG_BUCKET/$SIGWATCH_CONFIG_KEY, the key defaulting to config/sigwatch.yaml)',
    },
    'source-identity': { type: 'string', value: 'ID', help: 'SourceIdentity of the sessions (default $SIGWATCH_SOURCE_IDENTITY or sigwatch)' },
    format: { type: 'string', value: 'table|json', help: 'json: one JSON object instead of the table' },
  },
  footer:
    'exit codes: 0 every account and project works, 1 any fails, 2 usage or configuration error (unreadable or invalid configuration, unknown group, account or project)',
} as const satisfies CommandSpec;

export const TRUST_REFRESH = {
  name: 'trust refresh',
  usage: 'trust refresh --out FILE [--mirror URL --root FILE] [--targets DIR] [--trusted-root-target NAME]',
  description: `Fetches a sigstore trusted root through TUF, verifies it from the given TUF root, and writes it as TrustedRoot JSON for 'sigwatch verify --trusted-root FILE'. Optional: verification never needs it (the public-good root ships with sigwatch).`,
  options: {
    out: { type: 'string', value: 'FILE', help: 'where to write the trusted root (required)' },
    mirror: { type: 'string', value: 'URL', help: 'TUF mirror (default https://tuf-repo-cdn.sigstore.dev)' },
    root: { type: 'string', value: 'FILE', help: 'trusted initial TUF root.json (default: the shipped public-good root; required with another --mirror)' },
    targets: { type: 'string', value: 'DIR', help: 'where targets live under the mirror (default targets)' },
    'trusted-root-target': {
      type: 'string',
      value: 'NAME',
      help: 'the target holding the trusted root (default trusted_root.json; without it, the legacy Fulcio/Rekor/CT/TSA targets are used)',
    },
  },
  footer: 'exit codes: 0 written, 1 the TUF repository did not verify (nothing written), 2 usage error',
} as const satisfies CommandSpec;

export const REPORT = {
  name: 'report',
  usage: 'report [--verdicts FILE|dynamodb://TABLE] [--config FILE] [--out DIR] [--runs N]',
  description: `Writes the posture report (report.html, report.json, report.csv) for the verdicts given, and prints the paths it wrote, the HTML file's first (docs/report.md).`,
  options: {
    verdicts: {
      type: 'string',
      value: 'FILE|dynamodb://TABLE',
      help: 'a JSON file of verdict records (a list, {"verdicts": [...], "runs": [...]}, or JSON lines), or sigwatch\'s DynamoDB table (read with the SDK\'s usual credentials and region; the trend comes from the table\'s report history). Default: dynamodb://$SIGWATCH_TABLE when that is set',
    },
    config: {
      type: 'string',
      value: 'FILE',
      help: 'the sigwatch configuration (sigwatch.yaml): groups and teams of the accounts; without it every image is "(unassociated)"',
    },
    out: { type: 'string', value: 'DIR', help: 'where to write (default: sigwatch-report)' },
    runs: { type: 'string', value: 'N', help: 'runs on the trend (default 30)' },
  },
  footer:
    'exit codes: 0 written, 2 usage or configuration error (unreadable or invalid verdicts file or configuration), 1 anything else (the table unreachable)',
} as const satisfies CommandSpec;

/** In the order docs/cli.md lists them. */
export const COMMANDS: readonly CommandSpec[] = [VERIFY, POLICY_VALIDATE, POLICY_MATCH, INVOKE, ASSOCIATIONS_CHECK, TRUST_REFRESH, REPORT];
