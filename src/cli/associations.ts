import { readFile } from 'node:fs/promises';
import { ECRClient } from '@aws-sdk/client-ecr';
import { S3Client, GetObjectCommand } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { callerIdentitySigner } from '../accounts/caller-identity-signer.ts';
import { checkGcpAssociations, gcpCheckVerdict, GCP_CHECKS, type GcpCheckName, type ProjectLocationCheck } from '../accounts/check-gcp.ts';
import { checkAssociations, checkTargets, checkVerdict, CHECKS, type AccountRegionCheck, type CheckTarget } from '../accounts/check.ts';
import { GcpFederations, type GcpEndpoints } from '../accounts/gcp-federation.ts';
import { GCP_PROJECT_RE } from '../registry/providers/gcp-names.ts';
import { configError, MAX_CONFIG_BYTES, parseConfig } from '../accounts/config.ts';
import { AwsSessions } from '../accounts/sts.ts';
import type { SigwatchConfig } from '../accounts/types.ts';
import type { Clock } from '../clock.ts';
import { SigwatchError } from '../errors.ts';
import { oneOf } from './args.ts';
import { ASSOCIATIONS_CHECK } from './commands.ts';
import { helpText, parseCommand } from './spec.ts';
import { EXIT_DENY, EXIT_OK, EXIT_USAGE } from './exit-codes.ts';
import type { Io } from './io.ts';

const HELP = helpText(ASSOCIATIONS_CHECK);

export interface AssociationsDeps {
  /** Region of the central account's STS, Secrets Manager and S3 calls. */
  region?: string;
  env?: NodeJS.ProcessEnv;
  /** Google's endpoints (tests point them at 127.0.0.1). */
  gcp?: GcpEndpoints;
  /** sigwatch's own AWS credentials, which sign the identity Google checks (the SDK's default chain unless given). */
  credentials?: AwsCredentialIdentityProvider;
}

export async function associationsCommand(args: string[], io: Io, deps: AssociationsDeps = {}): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === '-h' || sub === '--help' || sub === undefined) {
    io.stdout(HELP);
    return sub === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (sub !== 'check') {
    io.stderr(`sigwatch associations: unknown subcommand "${sub}"; expected check`);
    return EXIT_USAGE;
  }
  const { values, positionals } = parseCommand(ASSOCIATIONS_CHECK, rest);
  if (values.help) {
    io.stdout(HELP);
    return EXIT_OK;
  }
  if (positionals.length > 1) throw new SigwatchError('USAGE', `associations check takes at most one GROUP, got ${positionals.length}`);
  if (values.account !== undefined && !/^\d{12}$/.test(values.account))
    throw new SigwatchError('USAGE', `--account: an AWS account id is 12 digits, got "${values.account}"`);
  if (values.project !== undefined && !GCP_PROJECT_RE.test(values.project)) {
    throw new SigwatchError('USAGE', `--project: a GCP project id is 6 to 30 lowercase letters, digits and hyphens, got "${values.project}"`);
  }
  const format = oneOf('--format', values.format, ['table', 'json'] as const, 'table');
  const env = deps.env ?? process.env;

  const { config, where } = await loadConfig(values.config, env, deps.region);
  const targets = checkTargets(config, { group: positionals[0], account: values.account, project: values.project });
  // The central account's region: the configuration's own partition and region unless the environment says otherwise.
  const region = deps.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? config.operators.topicArn.split(':')[3]!;
  const sts = new STSClient({ region });
  const aws =
    targets.aws.length === 0
      ? []
      : await checkAws(targets.aws, config, sts, region, values['source-identity'] ?? env.SIGWATCH_SOURCE_IDENTITY ?? 'sigwatch', io.now);
  const signer = callerIdentitySigner({ region, credentials: deps.credentials ?? sts.config.credentials, now: io.now });
  const gcp = targets.gcp.length === 0 ? [] : await checkGcpAssociations(targets.gcp, new GcpFederations(signer, io.now, deps.gcp));
  const ok = aws.every((r) => r.ok) && gcp.every((r) => r.ok);
  const verdict = [...(aws.length > 0 ? [checkVerdict(aws)] : []), ...(gcp.length > 0 ? [gcpCheckVerdict(gcp)] : [])].join(' ');
  if (format === 'json') io.stdout(JSON.stringify({ config: where, ok, verdict, results: aws, gcp }));
  else {
    const tables = [...(aws.length > 0 ? [renderTable(aws)] : []), ...(gcp.length > 0 ? [renderGcpTable(gcp)] : [])];
    io.stdout(tables.join('\n\n'));
    io.stdout(verdict);
  }
  return ok ? EXIT_OK : EXIT_DENY;
}

async function checkAws(
  targets: CheckTarget[],
  config: SigwatchConfig,
  sts: STSClient,
  region: string,
  sourceIdentity: string,
  now: Clock,
): Promise<AccountRegionCheck[]> {
  const secrets = new SecretsManagerClient({ region });
  const sessions = new AwsSessions({
    sts,
    sourceIdentity,
    now,
    durationSeconds: config.defaults.sessionDurationSeconds,
    externalId: async (secretArn) => {
      // The secret's own region (an ARN names it); the value never leaves this function but for STS.
      const client = secretArn.split(':')[3] === region ? secrets : new SecretsManagerClient({ region: secretArn.split(':')[3]! });
      const out = await client.send(new GetSecretValueCommand({ SecretId: secretArn }));
      if (out.SecretString === undefined) throw new SigwatchError('CONFIG', 'the secret holds no string');
      return out.SecretString;
    },
  });
  return checkAssociations(targets, {
    sessions,
    sts: (r, credentials) => new STSClient({ region: r, credentials }),
    ecr: (r, credentials) => new ECRClient({ region: r, credentials }),
  });
}

async function loadConfig(
  location: string | undefined,
  env: NodeJS.ProcessEnv,
  region: string | undefined,
): Promise<{ config: SigwatchConfig; where: string }> {
  let where = location;
  if (where === undefined) {
    if (!env.SIGWATCH_CONFIG_BUCKET) throw new SigwatchError('USAGE', 'associations check: give --config FILE|s3://BUCKET/KEY, or set SIGWATCH_CONFIG_BUCKET');
    where = `s3://${env.SIGWATCH_CONFIG_BUCKET}/${env.SIGWATCH_CONFIG_KEY || 'config/sigwatch.yaml'}`;
  }
  const s3 = /^s3:\/\/([^/]+)\/(.+)$/.exec(where);
  let text: string;
  if (s3) {
    try {
      const out = await new S3Client({ ...(region ? { region } : {}) }).send(new GetObjectCommand({ Bucket: s3[1], Key: s3[2] }));
      text = (await out.Body?.transformToString('utf8')) ?? '';
    } catch (err) {
      const name = (err as { name?: string }).name ?? 'Error';
      throw new SigwatchError('CONFIG', `cannot read the sigwatch configuration ${where} (${name})`);
    }
  } else if (where.startsWith('s3:')) {
    throw new SigwatchError('USAGE', `--config ${where}: expected s3://BUCKET/KEY`);
  } else {
    try {
      text = await readFile(where, 'utf8');
    } catch (err) {
      throw new SigwatchError('CONFIG', `cannot read the sigwatch configuration ${where}: ${(err as Error).message}`);
    }
  }
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) throw new SigwatchError('CONFIG', `${where}: larger than ${MAX_CONFIG_BYTES} bytes`);
  // A file on this machine is a local run; a configuration in the bucket must name its ExternalIds' secrets.
  const parsed = parseConfig(text, { allowInlineExternalId: !s3 });
  if (!parsed.ok) throw configError(where, parsed.problems);
  return { config: parsed.config, where };
}

const HEADERS: Record<(typeof CHECKS)[number], string> = {
  'assume-role': 'ASSUME ROLE',
  'caller-identity': 'IDENTITY',
  'ecr-describe-repositories': 'ECR LIST',
  'ecr-authorization-token': 'ECR LOGIN',
};

/** A row per account and region, then what is missing, account by account. */
function renderTable(results: readonly AccountRegionCheck[]): string {
  return renderRows(
    ['GROUP', 'ACCOUNT', 'REGION', ...CHECKS.map((c) => HEADERS[c])],
    results.map((r) => ({
      cells: [r.group, r.account, r.region, ...CHECKS.map((c) => r.steps.find((s) => s.check === c)?.status ?? '-')],
      where: `${r.account} ${r.region}`,
      steps: r.steps,
    })),
  );
}

const GCP_HEADERS: Record<GcpCheckName, string> = {
  'token-exchange': 'TOKEN EXCHANGE',
  impersonation: 'IMPERSONATE',
  'artifact-registry-list': 'AR LIST',
};

/** A row per project and location, then what is missing. */
function renderGcpTable(results: readonly ProjectLocationCheck[]): string {
  const cell = (status: string | undefined) => (status === undefined || status === 'not-applicable' ? '-' : status);
  return renderRows(
    ['GROUP', 'PROJECT', 'LOCATION', ...GCP_CHECKS.map((c) => GCP_HEADERS[c])],
    results.map((r) => ({
      cells: [r.group, r.project, r.location, ...GCP_CHECKS.map((c) => cell(r.steps.find((s) => s.check === c)?.status))],
      where: `${r.project} ${r.location}`,
      steps: r.steps,
    })),
  );
}

function renderRows(header: string[], rows: { cells: string[]; where: string; steps: readonly { check: string; status: string; detail: string }[] }[]): string {
  const all = [header, ...rows.map((r) => r.cells)];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  const lines = all.map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
  const problems = rows.flatMap((r) => r.steps.filter((s) => s.status === 'failed').map((s) => `  ${r.where} ${s.check}: ${s.detail}`));
  if (problems.length > 0) lines.push('', 'missing:', ...[...new Set(problems)]);
  return lines.join('\n');
}
