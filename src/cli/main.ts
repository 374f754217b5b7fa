/**
 * The `sigwatch` command. Exit codes per CLI-CONTRACT.md:
 * 0 admit / valid, 1 deny (fail closed), 2 usage or configuration error.
 */
import { systemClock } from '../clock.ts';
import { SigwatchError } from '../errors.ts';
import { COMMANDS } from './commands.ts';
import { EXIT_DENY, EXIT_OK, EXIT_USAGE } from './exit-codes.ts';
import type { Io } from './io.ts';
import { nearest } from './spec.ts';

export { EXIT_DENY, EXIT_OK, EXIT_USAGE, type Io };

/** The package's version; a test keeps it equal to package.json's. */
export const VERSION = '0.1.0';

const USAGE = `usage: sigwatch <command> [options]

commands:
${COMMANDS.map((c) => `  ${c.usage}`).join('\n')}
  --version

run 'sigwatch <command> --help' for a command's options; docs/cli.md has them all.`;

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
      case '--version':
      case '-v':
      case 'version':
        io.stdout(VERSION);
        return EXIT_OK;
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.stdout(USAGE);
        return command === undefined ? EXIT_USAGE : EXIT_OK;
      default: {
        const option = command.startsWith('-');
        const guess = option
          ? nearest(command.replace(/^-+/, ''), ['version', 'help'])
          : nearest(command, ['verify', 'policy', 'invoke', 'associations', 'trust']);
        io.stderr(`sigwatch: unknown ${option ? 'option' : 'command'} "${command}"${guess ? `; did you mean ${option ? '--' : ''}${guess}?` : ''}\n${USAGE}`);
        return EXIT_USAGE;
      }
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
