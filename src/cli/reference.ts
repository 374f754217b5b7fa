import { COMMANDS } from './commands.ts';
import { markdownSection } from './spec.ts';

/**
 * docs/cli.md, made from the commands' own definitions (commands.ts): the
 * same options the parsers take and the help prints. `node scripts/cli-docs.ts`
 * writes it; a test fails when the file and the definitions differ.
 */
export function cliReference(): string {
  return `<!-- Generated from src/cli/commands.ts by \`node scripts/cli-docs.ts\`; do not edit by hand. -->
# sigwatch command-line reference

\`npx sigwatch …\` after \`npm ci\` (or \`node dist/cli.js …\` after \`npm run build\`).
\`sigwatch --version\` prints the version; \`sigwatch COMMAND --help\` prints a
command's section below. Every command exits 0 on success (admit, valid), 1 on
a deny or a failed check (fail closed: an error on the way to a verdict is a
deny), 2 on a usage or configuration error, in which case nothing was verified.
An unknown option is refused with the nearest option the command has.

${COMMANDS.map(markdownSection).join('\n\n')}
`;
}
