import { readFile } from 'node:fs/promises';
import { ECRClient } from '@aws-sdk/client-ecr';
import { S3Client, GetObjectCommand } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import { checkAssociations, checkTargets, checkVerdict, CHECKS, type AccountRegionCheck } from '../accounts/check.ts';
import { configError, MAX_CONFIG_BYTES, parseConfig } from '../accounts/config.ts';
import { AwsSessions } from '../accounts/sts.ts';
import type { SigwatchConfig } from '../accounts/types.ts';
import { SigwatchError } from '../errors.ts';
import { oneOf, parseCommandArgs } from './args.ts';
import { EXIT_DENY, EXIT_OK, EXIT_USAGE, type Io } from './main.ts';

const HELP = `usage: sigwatch associations check [GROUP] [--account ID] [--config FILE|s3://BUCKET/KEY] [--format json]

For every AWS account associated with GROUP or a group below it (all groups
without GROUP), in each of its regions: assumes the account's role as the
sigwatch functions do (its ExternalId from Secrets Manager, SourceIdentity),
calls sts:GetCallerIdentity with the session, and the read-only ECR calls a
verification starts with (ecr:DescribeRepositories, ecr:GetAuthorizationToken).
Prints what works and what is missing, then a one-line verdict.

Run it with the credentials of the sigwatch functions' role (member roles
trust that role only; see docs/deploy.md).

options:
  --account ID        only this account
  --config FILE|s3://BUCKET/KEY
                      the sigwatch configuration (default:
                      s3://$SIGWATCH_CONFIG_BUCKET/$SIGWATCH_CONFIG_KEY, the key
                      defaulting to config/sigwatch.yaml)
  --source-identity ID
                      SourceIdentity of the sessions (default
                      $SIGWATCH_SOURCE_IDENTITY or sigwatch)
  --format json       one JSON object instead of the table

exit codes: 0 every account works, 1 any account fails, 2 usage or
configuration error (unreadable or invalid configuration, unknown group or
account)`;

export interface AssociationsDeps {
  /** Region of the central account's STS, Secrets Manager and S3 calls. */
  region?: string;
  env?: NodeJS.ProcessEnv;
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
  const { values, positionals } = parseCommandArgs('associations check', rest, {
    account: { type: 'string' },
    config: { type: 'string' },
    'source-identity': { type: 'string' },
    format: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(HELP);
    return EXIT_OK;
  }
  if (positionals.length > 1) throw new SigwatchError('USAGE', `associations check takes at most one GROUP, got ${positionals.length}`);
  if (values.account !== undefined && !/^\d{12}$/.test(values.account)) throw new SigwatchError('USAGE', `--account: an AWS account id is 12 digits, got "${values.account}"`);
  const format = oneOf('--format', values.format, ['table', 'json'] as const, 'table');
  const env = deps.env ?? process.env;

  const { config, where } = await loadConfig(values.config, env, deps.region);
  const targets = checkTargets(config, positionals[0], values.account);
  // The central account's region: the configuration's own partition and region unless the environment says otherwise.
  const region = deps.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? config.operators.topicArn.split(':')[3]!;
  const secrets = new SecretsManagerClient({ region });
  const sessions = new AwsSessions({
    sts: new STSClient({ region }),
    sourceIdentity: values['source-identity'] ?? env.SIGWATCH_SOURCE_IDENTITY ?? 'sigwatch',
    durationSeconds: config.defaults.sessionDurationSeconds,
    externalId: async (secretArn) => {
      // The secret's own region (an ARN names it); the value never leaves this function but for STS.
      const client = secretArn.split(':')[3] === region ? secrets : new SecretsManagerClient({ region: secretArn.split(':')[3]! });
      const out = await client.send(new GetSecretValueCommand({ SecretId: secretArn }));
      if (out.SecretString === undefined) throw new SigwatchError('CONFIG', 'the secret holds no string');
      return out.SecretString;
    },
  });
  const results = await checkAssociations(targets, {
    sessions,
    sts: (r, credentials) => new STSClient({ region: r, credentials }),
    ecr: (r, credentials) => new ECRClient({ region: r, credentials }),
  });
  const verdict = checkVerdict(results);
  if (format === 'json') io.stdout(JSON.stringify({ config: where, ok: results.every((r) => r.ok), verdict, results }));
  else {
    io.stdout(renderTable(results));
    io.stdout(verdict);
  }
  return results.every((r) => r.ok) ? EXIT_OK : EXIT_DENY;
}

async function loadConfig(location: string | undefined, env: NodeJS.ProcessEnv, region: string | undefined): Promise<{ config: SigwatchConfig; where: string }> {
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
export function renderTable(results: readonly AccountRegionCheck[]): string {
  const rows = [['GROUP', 'ACCOUNT', 'REGION', ...CHECKS.map((c) => HEADERS[c])]];
  for (const r of results) rows.push([r.group, r.account, r.region, ...CHECKS.map((c) => r.steps.find((s) => s.check === c)?.status ?? '-')]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  const problems = results.flatMap((r) => r.steps.filter((s) => s.status === 'failed').map((s) => `  ${r.account} ${r.region} ${s.check}: ${s.detail}`));
  if (problems.length > 0) lines.push('', 'missing:', ...[...new Set(problems)]);
  return lines.join('\n');
}
