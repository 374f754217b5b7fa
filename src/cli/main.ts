/**
 * The `sigwatch` command. Exit codes per CLI-CONTRACT.md:
 * 0 admit / valid, 1 deny (fail closed), 2 usage or configuration error.
 */
import { systemClock, type Clock } from '../clock.ts';
import { SigwatchError } from '../errors.ts';

export const EXIT_OK = 0;
export const EXIT_DENY = 1;
export const EXIT_USAGE = 2;

const USAGE = `usage: sigwatch <command> [options]

commands:
  verify IMAGE --policies PATH|s3://BUCKET/PREFIX [--format json]
  policy validate PATH...
  policy match IMAGE... --policies PATH [--format json]
  invoke EVENT.json [--config FILE]
  associations check [GROUP] [--account ID] [--project ID] [--config FILE|s3://BUCKET/KEY] [--format json]
  trust refresh --out FILE [--mirror URL --root FILE]
  report [--verdicts FILE|dynamodb://TABLE] [--config FILE] [--out DIR]

run 'sigwatch <command> --help' for a command's options.`;

export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** The run's one clock: every command's composition reads time only through it. */
  now: Clock;
  /**
   * When the command started, on the monotonic clock (`performance.now()`):
   * `verify --timeout` counts from here. The process itself passes 0 (its
   * start, so loading the code counts too); in-process callers leave it out.
   */
  startedAt?: number;
}

const defaultIo: Io = {
  now: systemClock,
  stdout: (s) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`),
  stderr: (s) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`),
  startedAt: 0,
};

export async function run(argv: string[], io: Io = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'verify':
        return await (await import('./verify.ts')).verifyCommand(rest, io);
      case 'policy': {
        const [sub, ...args] = rest;
        if (sub === 'validate') return await (await import('./policy.ts')).validateCommand(args, io);
        if (sub === 'match') return await (await import('./policy.ts')).matchCommand(args, io);
        io.stderr(`sigwatch policy: unknown subcommand ${sub ? `"${sub}"` : '(none)'}; expected validate or match`);
        return EXIT_USAGE;
      }
      case 'invoke':
        return await (await import('./invoke.ts')).invokeCommand(rest, io);
      case 'associations':
        return await (await import('./associations.ts')).associationsCommand(rest, io);
      case 'trust':
        return await (await import('./trust.ts')).trustCommand(rest, io);
      case 'report':
        return await (await import('./report.ts')).reportCommand(rest, io);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.stdout(USAGE);
        return command === undefined ? EXIT_USAGE : EXIT_OK;
      default:
        io.stderr(`sigwatch: unknown command "${command}"\n${USAGE}`);
        return EXIT_USAGE;
    }
  } catch (err) {
    // Anything unexpected is still a clear, non-admitting exit.
    if (err instanceof SigwatchError && (err.code === 'USAGE' || err.code === 'CONFIG' || err.code === 'POLICY_INVALID')) {
      io.stderr(`sigwatch: ${err.message}`);
      return EXIT_USAGE;
    }
    io.stderr(`sigwatch: ${err instanceof Error ? err.message : String(err)}`);
    return EXIT_DENY;
  }
}
