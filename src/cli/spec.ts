import { parseArgs } from 'node:util';
import { SigwatchError } from '../errors.ts';

/**
 * A command's definition: what its parser accepts and what its help and
 * docs/cli.md say, from one source, so that the three cannot drift apart.
 */

export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
  /** The value's placeholder in help (`PATH`, `text|json`); string options only. */
  value?: string;
  /** One or more sentences; wrapped when printed. */
  help: string;
}

export interface CommandSpec {
  /** `verify`, `policy validate`. */
  name: string;
  /** The synopsis after `sigwatch ` (`verify IMAGE --policies PATH [options]`). */
  usage: string;
  /** What it does, in paragraphs separated by blank lines. */
  description: string;
  options: Record<string, OptionSpec>;
  /** After the options (notes, exit codes), in paragraphs. */
  footer: string;
}

const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', help: 'this help' };
const COLUMN = 31;
const WIDTH = 92;

/** The options a command's parser takes: its own and `--help`. */
function optionsOf(spec: CommandSpec): Record<string, OptionSpec> {
  return { ...spec.options, help: HELP_OPTION };
}

/**
 * node's parseArgs over the command's options, with usage errors (exit 2) in
 * the command's own words: an unknown option names the command and the
 * nearest option it has ("did you mean").
 */
export function parseCommand<S extends CommandSpec>(spec: S, args: string[]) {
  const options = optionsOf(spec);
  checkKnownOptions(spec, options, args);
  try {
    return parseArgs({ args, options: options as S['options'] & { help: { type: 'boolean'; short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const i = args.findIndex(
        (a, j) => a.startsWith('--') && options[a.slice(2)]?.type === 'string' && (j === args.length - 1 || args[j + 1]!.startsWith('-')),
      );
      const flag = args[i];
      if (flag !== undefined) {
        const next = args[i + 1];
        if (next === undefined) throw new SigwatchError('USAGE', `${spec.name}: ${flag} needs a value (${flag} ${options[flag.slice(2)]!.value ?? 'VALUE'})`);
        throw new SigwatchError('USAGE', `${spec.name}: ${flag} ${next} is ambiguous: write ${flag}=${next} for a value that starts with "-"`);
      }
    }
    throw new SigwatchError('USAGE', `${spec.name}: ${(err as Error).message}`);
  }
}

/** Refuses the first option the command does not have, before parseArgs says it in its own words. */
function checkKnownOptions(spec: CommandSpec, options: Record<string, OptionSpec>, args: string[]): void {
  const shorts = new Map(Object.entries(options).flatMap(([name, o]) => (o.short ? [[o.short, name] as const] : [])));
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return;
    if (arg.startsWith('--')) {
      const name = arg.slice(2).split('=')[0]!;
      const option = options[name];
      if (!option) throw unknownOption(spec, `--${name}`, Object.keys(options));
      // A string option's value may start with "-": it is not an option.
      if (option.type === 'string' && !arg.includes('=')) i++;
    } else if (arg.startsWith('-') && arg.length > 1) {
      const flag = arg[1]!;
      const name = shorts.get(flag);
      if (!name) throw unknownOption(spec, `-${flag}`, Object.keys(options));
      if (options[name]!.type === 'string' && arg.length === 2) i++;
    }
  }
}

function unknownOption(spec: CommandSpec, flag: string, names: string[]): SigwatchError {
  const guess = nearest(flag.replace(/^-+/, ''), names);
  const hint = guess ? `; did you mean --${guess}?` : '';
  return new SigwatchError('USAGE', `${spec.name}: unknown option ${flag}${hint} ('sigwatch ${spec.name} --help' lists its options)`);
}

/** The option name closest to `typed` (edit distance), when it is close enough to be a typo of it. */
export function nearest(typed: string, names: readonly string[]): string | undefined {
  const t = typed.toLowerCase();
  // A name cut short (`--pull-secret`) or run on (`--output` for `--out`).
  const prefix = names
    .filter((n) => n.startsWith(t) || (n.length >= 3 && t.startsWith(n)))
    .sort((a, b) => Math.abs(a.length - t.length) - Math.abs(b.length - t.length))[0];
  if (prefix && t.length >= 3) return prefix;
  let best: { name: string; distance: number } | undefined;
  for (const name of names) {
    const distance = editDistance(t, name);
    if (!best || distance < best.distance) best = { name, distance };
  }
  // Up to a third of the name wrong, at least one character.
  return best && best.distance <= Math.max(1, Math.floor(best.name.length / 3)) ? best.name : undefined;
}

/** Levenshtein distance, with a swap of two neighbours counting as one edit (`--polciies`). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** `--policies PATH` */
function flagOf(name: string, o: OptionSpec): string {
  const short = o.short ? `-${o.short}, ` : '';
  return `${short}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** Paragraphs re-wrapped, except those indented (examples, lists), kept as written. */
function paragraphs(text: string): string {
  return text
    .trim()
    .split(/\n\s*\n/)
    .map((p) => (/^\s/.test(p) || p.includes('\n  ') ? p.replace(/^\n+/, '') : wrap(p, WIDTH - 20).join('\n')))
    .join('\n\n');
}

/** `sigwatch CMD --help`. */
export function helpText(spec: CommandSpec): string {
  const lines = [`usage: sigwatch ${spec.usage}`, '', paragraphs(spec.description)];
  const entries = Object.entries(spec.options);
  if (entries.length > 0) {
    lines.push('', 'options:');
    for (const [name, o] of entries) {
      const flag = `  ${flagOf(name, o)}`;
      const help = wrap(o.help, WIDTH - COLUMN);
      if (flag.length >= COLUMN - 1) lines.push(flag, ...help.map((h) => `${' '.repeat(COLUMN)}${h}`));
      else lines.push(`${flag.padEnd(COLUMN)}${help[0] ?? ''}`, ...help.slice(1).map((h) => `${' '.repeat(COLUMN)}${h}`));
    }
  }
  if (spec.footer.trim()) lines.push('', paragraphs(spec.footer));
  return lines.join('\n');
}

/** Markdown text: what would be read as emphasis or HTML is escaped. */
function mdText(text: string): string {
  return text.replace(/[\\*<>]/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : `\\${c}`));
}

/** One command's section of docs/cli.md. */
export function markdownSection(spec: CommandSpec): string {
  const md = (text: string) => mdText(text.trim().replace(/\n\s*\n/g, '\n\n'));
  const out = [`## \`sigwatch ${spec.name}\``, '', '```', `sigwatch ${spec.usage}`, '```', '', md(spec.description)];
  const entries = Object.entries(spec.options);
  if (entries.length > 0) {
    out.push('', '| option | |', '| --- | --- |');
    // In a table a "|" ends the cell, even inside a code span, unless escaped.
    for (const [name, o] of entries)
      out.push(`| \`${flagOf(name, o).replace(/\|/g, '\\|')}\` | ${mdText(o.help.replace(/\s+/g, ' ')).replace(/\|/g, '\\|')} |`);
  }
  if (spec.footer.trim()) out.push('', md(spec.footer));
  return out.join('\n');
}
