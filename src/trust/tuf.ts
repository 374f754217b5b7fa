import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { BaseFetcher, Updater, type Fetcher } from 'tuf-js';
// The error classes are not re-exported by the entry point; the updater needs this exact one for "no newer root".
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import { certificateAuthority, transparencyLog } from './sigstore-keys.ts';
import { readTarGz } from './tar.ts';
import { SigwatchError } from '../errors.ts';

/**
 * Sigstore trust material distributed through TUF, fetched the way
 * policy-controller's TrustRoot reconciler does (`pkg/tuf`,
 * `GetSigstoreKeysFromTuf`): a TUF client starts from the given `root.json`
 * (no local cache: every fetch walks root rotations from it), refreshes
 * timestamp, snapshot and targets, and downloads the `trusted_root.json`
 * target (hash and length checked by TUF); a repository without that target
 * falls back to the legacy targets with sigstore custom metadata (Fulcio
 * chains, Rekor and CT log keys, TSA chains). Every failure throws.
 */

export interface TufSource {
  /** The trusted initial `root.json`. */
  root: Buffer;
  /** Where metadata lives: a mirror URL, or `mem://repo/` for an in-memory repository. */
  metadataBaseUrl: string;
  targetBaseUrl: string;
  /** How files are read; the HTTP(S) fetcher of tuf-js when absent. */
  fetcher?: Fetcher;
  trustedRootTarget?: string;
  fetchTimeoutMs?: number;
  fetchRetries?: number;
}

export interface TufTrustedRoot {
  trustedRoot: TrustedRoot;
  /** Which target it came from: `trusted_root.json` or the legacy targets it was assembled from. */
  targets: string[];
  /** The earliest expiry of the TUF metadata it was verified with (ms since epoch): refresh after it. */
  expires: number;
}

/** policy-controller strips this prefix from the paths in `mirrorFS` (`DefaultTUFRepoPrefix`). */
const MIRROR_FS_PREFIX = '/repository/';
/** The cap for an uncompressed `mirrorFS`, as in validation. */
const MAX_MIRROR_FS_BYTES = 64 * 1024 * 1024;
const MEM_BASE_URL = 'mem://repo/';

/** A TUF source for a `TrustRoot`'s `remote`: metadata at the mirror, targets under `<mirror>/<targets>`. */
export function remoteSource(mirror: string, root: Buffer, targets: string, trustedRootTarget?: string): TufSource {
  const base = mirror.replace(/\/+$/, '');
  return { root, metadataBaseUrl: base, targetBaseUrl: `${base}/${targets || 'targets'}`, trustedRootTarget };
}

/** A TUF source for a `TrustRoot`'s `repository`: its `mirrorFS` read in memory, no network. */
export function mirrorFsSource(mirrorFS: Buffer, root: Buffer, targets: string, trustedRootTarget?: string): TufSource {
  let files: Map<string, Buffer>;
  try {
    files = readTarGz(mirrorFS, { maxBytes: MAX_MIRROR_FS_BYTES, stripPrefix: MIRROR_FS_PREFIX });
  } catch (err) {
    throw new SigwatchError('TRUST_ROOT', `mirrorFS: failed to uncompress: ${(err as Error).message}`, { cause: err });
  }
  return {
    root,
    metadataBaseUrl: MEM_BASE_URL,
    targetBaseUrl: `${MEM_BASE_URL}${targets || 'targets'}`,
    fetcher: new MemoryFetcher(files),
    trustedRootTarget,
  };
}

/** Serves the files of an unpacked repository; a missing file is a 404, as TUF clients expect for "no newer root". */
class MemoryFetcher extends BaseFetcher {
  private readonly files: Map<string, Buffer>;
  constructor(files: Map<string, Buffer>) {
    super();
    this.files = files;
  }
  override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    const path = decodeURIComponent(url.startsWith(MEM_BASE_URL) ? url.slice(MEM_BASE_URL.length) : url);
    const data = this.files.get(path);
    if (!data) throw new DownloadHTTPError(`${path} is not in mirrorFS`, 404);
    return new Blob([new Uint8Array(data)]).stream();
  }
}

export async function fetchTufTrustedRoot(source: TufSource): Promise<TufTrustedRoot> {
  const dir = await mkdtemp(join(tmpdir(), 'sigwatch-tuf-'));
  try {
    const targetDir = join(dir, 'targets');
    await mkdir(targetDir);
    await writeFile(join(dir, 'root.json'), source.root);
    let updater: Updater;
    try {
      updater = new Updater({
        metadataDir: dir,
        metadataBaseUrl: source.metadataBaseUrl,
        targetDir,
        targetBaseUrl: source.targetBaseUrl,
        fetcher: source.fetcher,
        config: {
          userAgent: 'sigwatch',
          fetchTimeout: source.fetchTimeoutMs ?? 30_000,
          fetchRetry: { retries: source.fetchRetries ?? 2, minTimeout: 250, maxTimeout: 2_000 },
        },
      });
    } catch (err) {
      throw new SigwatchError('TRUST_ROOT', `the TUF root is not usable: ${describe(err)}`, { cause: err });
    }
    try {
      await updater.refresh();
    } catch (err) {
      throw new SigwatchError('TRUST_ROOT', `TUF metadata from ${source.metadataBaseUrl} does not verify: ${describe(err)}`, { cause: err });
    }
    const name = source.trustedRootTarget || 'trusted_root.json';
    const info = await updater.getTargetInfo(name);
    let result: Omit<TufTrustedRoot, 'expires'>;
    if (info) {
      const text = await downloadTarget(updater, info).then((b) => b.toString('utf8'));
      try {
        result = { trustedRoot: TrustedRoot.fromJSON(JSON.parse(text)), targets: [name] };
      } catch (err) {
        throw new SigwatchError('TRUST_ROOT', `parsing ${name}: ${describe(err)}`, { cause: err });
      }
    } else {
      // As upstream: only a missing trusted_root.json falls back to the legacy targets.
      result = await legacyTrustedRoot(updater, dir);
    }
    return { ...result, expires: await earliestExpiry(dir) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

type TargetInfo = NonNullable<Awaited<ReturnType<Updater['getTargetInfo']>>>;

async function downloadTarget(updater: Updater, info: TargetInfo): Promise<Buffer> {
  try {
    return await readFile(await updater.downloadTarget(info));
  } catch (err) {
    throw new SigwatchError('TRUST_ROOT', `downloading target ${info.path}: ${describe(err)}`, { cause: err });
  }
}

/** sigstore/sigstore's `customMetadata`: `{"sigstore": {"usage": "Fulcio", "status": "Active", "uri": …}}`. */
async function legacyTrustedRoot(updater: Updater, dir: string): Promise<Omit<TufTrustedRoot, 'expires'>> {
  // targets.json was written by the updater only after it verified it.
  const targets = JSON.parse(await readFile(join(dir, 'targets.json'), 'utf8')) as { signed?: { targets?: Record<string, unknown> } };
  const root: TrustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    certificateAuthorities: [],
    tlogs: [],
    ctlogs: [],
    timestampAuthorities: [],
  };
  const used: string[] = [];
  for (const name of Object.keys(targets.signed?.targets ?? {}).sort()) {
    const info = await updater.getTargetInfo(name);
    const sigstore = (info?.custom as { sigstore?: { usage?: unknown; uri?: unknown } } | undefined)?.sigstore;
    if (!info || typeof sigstore?.usage !== 'string') continue;
    const usage = sigstore.usage.toLowerCase();
    if (!['fulcio', 'rekor', 'ctfe', 'tsa'].includes(usage)) continue;
    const uri = typeof sigstore.uri === 'string' ? sigstore.uri : '';
    const pem = (await downloadTarget(updater, info)).toString('utf8');
    try {
      if (usage === 'fulcio') root.certificateAuthorities.push(certificateAuthority(uri, pem));
      else if (usage === 'tsa') root.timestampAuthorities.push(certificateAuthority(uri, pem));
      else (usage === 'rekor' ? root.tlogs : root.ctlogs).push(transparencyLog(uri, pem));
    } catch (err) {
      throw new SigwatchError('TRUST_ROOT', `target ${name}: ${describe(err)}`, { cause: err });
    }
    used.push(name);
  }
  // Upstream's rule: at least one Fulcio; the logs may be absent.
  if (root.certificateAuthorities.length === 0)
    throw new SigwatchError('TRUST_ROOT', 'no trusted_root.json target and no certificate authorities found in the legacy targets');
  return { trustedRoot: root, targets: used };
}

async function earliestExpiry(dir: string): Promise<number> {
  let earliest = Infinity;
  for (const file of await readdir(dir)) {
    if (!file.endsWith('.json')) continue;
    const meta = JSON.parse(await readFile(join(dir, file), 'utf8')) as { signed?: { expires?: string } };
    const at = Date.parse(meta.signed?.expires ?? '');
    if (Number.isFinite(at)) earliest = Math.min(earliest, at);
  }
  if (earliest === Infinity) throw new SigwatchError('TRUST_ROOT', 'TUF metadata carries no expiry');
  return earliest;
}

/** tuf-js wraps network failures; the cause (ECONNREFUSED, a status code) is what an operator needs. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const status = err instanceof DownloadHTTPError ? ` (HTTP ${err.statusCode})` : '';
  const cause = err.cause instanceof Error ? `: ${(err.cause as Error & { code?: string }).code ?? err.cause.message}` : '';
  return `${err.message}${status}${cause}`;
}
