import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SigwatchError } from '../errors.ts';
import { DEFAULT_TREND_RUNS, RunHistory } from '../report/history.ts';
import { writeReportFiles } from '../report/outputs.ts';
import { PostureBuilder } from '../report/posture.ts';
import { readVerdictsFile } from '../report/verdicts-file.ts';
import { FileConfigSource } from '../store/config-object.ts';
import { VerdictStore } from '../store/verdicts.ts';
import { REPORT } from './commands.ts';
import { EXIT_OK } from './exit-codes.ts';
import type { Io } from './io.ts';
import { helpText, parseCommand } from './spec.ts';

const HELP = helpText(REPORT);

export interface ReportCommandDeps {
  /** The DynamoDB client for dynamodb:// (tests pass one for a local server). */
  dynamo?: DynamoDBClient;
  env?: NodeJS.ProcessEnv;
}

export async function reportCommand(args: string[], io: Io, deps: ReportCommandDeps = {}): Promise<number> {
  const { values, positionals } = parseCommand(REPORT, args);
  if (values.help) {
    io.stdout(HELP);
    return EXIT_OK;
  }
  if (positionals.length > 0) throw new SigwatchError('USAGE', `report takes no positional arguments, got ${positionals.join(' ')}\n${HELP}`);
  const env = deps.env ?? process.env;
  const source = values.verdicts ?? (env.SIGWATCH_TABLE ? `dynamodb://${env.SIGWATCH_TABLE}` : undefined);
  if (source === undefined) throw new SigwatchError('USAGE', `report: give --verdicts FILE|dynamodb://TABLE, or set SIGWATCH_TABLE\n${HELP}`);
  let runs = DEFAULT_TREND_RUNS;
  if (values.runs !== undefined) {
    runs = /^\d{1,4}$/.test(values.runs) ? Number(values.runs) : NaN;
    if (!(runs >= 1 && runs <= 1000)) throw new SigwatchError('USAGE', `--runs: expected a whole number from 1 to 1000, got "${values.runs}"`);
  }
  const directory = values.config === undefined ? undefined : (await new FileConfigSource(values.config, { allowInlineExternalId: true }).load()).directory;
  const generatedAt = new Date(io.now()).toISOString();

  let builder: PostureBuilder;
  if (source.startsWith('dynamodb://')) {
    const table = source.slice('dynamodb://'.length);
    if (!/^[A-Za-z0-9_.-]{3,255}$/.test(table)) throw new SigwatchError('USAGE', `--verdicts ${source}: expected dynamodb://TABLE with a DynamoDB table name`);
    const client = deps.dynamo ?? new DynamoDBClient({});
    const history = await new RunHistory(client, table, { now: io.now }).recent(runs - 1);
    builder = new PostureBuilder({ generatedAt, history, ...(directory ? { directory } : {}) });
    for await (const page of new VerdictStore(client, table, { now: io.now }).scan({ segments: 4 })) builder.add(page);
  } else {
    const file = await readVerdictsFile(source);
    builder = new PostureBuilder({ generatedAt, history: file.runs.slice(-(runs - 1) || file.runs.length), ...(directory ? { directory } : {}) }).add(
      file.verdicts,
    );
  }
  const report = builder.build();
  const paths = await writeReportFiles(report, values.out ?? 'sigwatch-report');
  for (const p of paths) io.stdout(p);
  const t = report.totals;
  io.stderr(
    `sigwatch report: ${t.images} image${t.images === 1 ? '' : 's'} (${t.admit} admit, ${t.deny} deny, ${t.error} error, ${t.warn} warn), ${report.groups.length} group${report.groups.length === 1 ? '' : 's'}`,
  );
  return EXIT_OK;
}
