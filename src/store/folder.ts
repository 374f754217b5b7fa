import { open, readdir, realpath, stat } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { SigwatchError } from '../errors.ts';
import { MAX_FILE_BYTES } from '../policy/limits.ts';
import { buildPolicySet, type LoadOptions, type LoadedPolicySet, type PolicyFile } from './policy-set.ts';

/**
 * The policy store on a local disk: a YAML/JSON file, or a folder of them.
 * Folders are read recursively (teams keep a folder each), skipping names
 * that start with "." (`.git`, and the `..data` links of a mounted ConfigMap,
 * whose files also appear under their own names).
 */

const POLICY_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

export async function loadPolicyPath(path: string, opts: LoadOptions = {}): Promise<LoadedPolicySet> {
  return buildPolicySet(await readPolicyFiles([path]), opts);
}

/**
 * The files at the paths (each a file, taken whatever its name, or a folder),
 * sorted by path, each file once. A missing or unreadable path is a CONFIG error.
 */
export async function readPolicyFiles(paths: string[]): Promise<PolicyFile[]> {
  const found = new Map<string, string>();
  const visitedFolders = new Set<string>();
  for (const path of paths) {
    try {
      await collect(path, true, found, visitedFolders);
    } catch (err) {
      if (err instanceof SigwatchError) throw err;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        throw new SigwatchError('CONFIG', `cannot read policies at ${path}: no such file or folder`, { cause: err });
      throw new SigwatchError('CONFIG', `cannot read policies at ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
  const files: PolicyFile[] = [];
  for (const file of [...found.values()].sort()) files.push({ file, text: await readBounded(file) });
  return files;
}

/** `found` maps a file's real path to the path we name it by. */
async function collect(path: string, explicit: boolean, found: Map<string, string>, visitedFolders: Set<string>): Promise<void> {
  const info = await stat(path);
  const real = await realpath(path);
  if (info.isDirectory()) {
    // A symlink back up the tree would otherwise loop forever.
    if (visitedFolders.has(real)) return;
    visitedFolders.add(real);
    const entries = (await readdir(path)).filter((name) => !name.startsWith('.')).sort();
    for (const name of entries) await collect(join(path, name), false, found, visitedFolders);
    return;
  }
  if (!info.isFile() || (!explicit && !POLICY_EXTENSIONS.has(extname(path).toLowerCase()))) return;
  if (!found.has(real)) found.set(real, path);
}

/**
 * The file's text; of a file over the size limit, only one byte more than the
 * limit, so that the parser refuses it without it being loaded whole.
 */
async function readBounded(file: string): Promise<string> {
  try {
    const handle = await open(file, 'r');
    try {
      if ((await handle.stat()).size <= MAX_FILE_BYTES) return await handle.readFile('utf8');
      const buffer = Buffer.alloc(MAX_FILE_BYTES + 1);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      return buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw new SigwatchError('CONFIG', `cannot read policies at ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * A reader of policy files by key prefix under a local folder, the way the
 * config bucket is laid out (`policies/acme/…`): for local runs and the demo.
 * A prefix with no folder holds no policies.
 */
export function folderPrefixReader(root: string): (prefix: string) => Promise<{ key: string; file: PolicyFile }[]> {
  return async (prefix) => {
    const dir = join(root, prefix);
    try {
      if (!(await stat(dir)).isDirectory()) return [];
    } catch {
      return [];
    }
    return (await readPolicyFiles([dir])).map((file) => ({ key: relative(root, file.file).split(sep).join('/'), file }));
  };
}
