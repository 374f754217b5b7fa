import { readFile, rename, writeFile } from 'node:fs/promises';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { SigwatchError } from '../errors.ts';
import { publicGoodTufRoot, PUBLIC_GOOD_MIRROR, trustMaterialFromJson } from '../trust/trusted-root.ts';
import { fetchTufTrustedRoot, remoteSource } from '../trust/tuf.ts';
import { TRUST_REFRESH } from './commands.ts';
import { helpText, parseCommand } from './spec.ts';
import { EXIT_OK } from './exit-codes.ts';
import type { Io } from './io.ts';

const HELP = helpText(TRUST_REFRESH);

export async function trustCommand(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'refresh') return refreshCommand(rest, io);
  if (sub === '--help' || sub === '-h') {
    io.stdout(HELP);
    return EXIT_OK;
  }
  throw new SigwatchError('USAGE', `trust: unknown subcommand ${sub ? `"${sub}"` : '(none)'}; expected refresh\n${HELP}`);
}

async function refreshCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(TRUST_REFRESH, args);
  if (values.help) {
    io.stdout(HELP);
    return EXIT_OK;
  }
  if (positionals.length > 0) throw new SigwatchError('USAGE', `trust refresh takes no positional arguments, got ${positionals.join(' ')}\n${HELP}`);
  if (!values.out) throw new SigwatchError('USAGE', `trust refresh needs --out FILE\n${HELP}`);
  const mirror = values.mirror ?? PUBLIC_GOOD_MIRROR;
  if (!/^https?:\/\//.test(mirror)) throw new SigwatchError('USAGE', `--mirror must be an http(s) URL, got "${mirror}"`);
  if (values.root === undefined && mirror.replace(/\/+$/, '') !== PUBLIC_GOOD_MIRROR) {
    throw new SigwatchError('USAGE', `--root FILE is required with --mirror ${mirror} (the shipped root only vouches for ${PUBLIC_GOOD_MIRROR})`);
  }
  const root = values.root === undefined ? publicGoodTufRoot() : await readRoot(values.root);

  let fetched;
  try {
    fetched = await fetchTufTrustedRoot(remoteSource(mirror, root, values.targets ?? 'targets', values['trusted-root-target']));
  } catch (err) {
    throw new SigwatchError('TRUST_ROOT', `trust refresh from ${mirror}: ${(err as Error).message}`, { cause: err });
  }
  const json = TrustedRoot.toJSON(fetched.trustedRoot);
  // Never write a file that verify would refuse.
  trustMaterialFromJson(json, `the trusted root from ${mirror}`);
  // Write then rename: a reader never sees half a trusted root.
  const temporary = `${values.out}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(json, null, 2)}\n`);
  await rename(temporary, values.out);
  const r = fetched.trustedRoot;
  io.stdout(
    `wrote ${values.out}: ${fetched.targets.join(', ')} from ${mirror} (${r.certificateAuthorities.length} CA, ${r.tlogs.length} Rekor, ` +
      `${r.ctlogs.length} CT log, ${r.timestampAuthorities.length} TSA); TUF metadata valid until ${new Date(fetched.expires).toISOString()}`,
  );
  return EXIT_OK;
}

async function readRoot(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new SigwatchError('CONFIG', `cannot read TUF root ${path}: ${(err as Error).message}`);
  }
}
