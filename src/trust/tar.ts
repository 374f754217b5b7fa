import { posix } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { SigwatchError } from '../errors.ts';

/**
 * The files of a gzipped tar archive (what `mirrorFS` of a `TrustRoot`
 * repository holds: policy-controller's `CompressFS` of a TUF repository), in
 * memory. Only what Go's `archive/tar` writes for plain files is read: ustar
 * headers, PAX `path` records and GNU long names; links and devices are
 * skipped, as upstream's `UncompressMemFS` skips them.
 */
export function readTarGz(data: Buffer, opts: { maxBytes: number; stripPrefix?: string }): Map<string, Buffer> {
  if (data.length < 2 || data[0] !== 0x1f || data[1] !== 0x8b) throw new SigwatchError('TRUST_ROOT', 'gzip: invalid header');
  const tar = gunzipSync(data, { maxOutputLength: opts.maxBytes });
  const files = new Map<string, Buffer>();
  let offset = 0;
  let longName: string | undefined;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break; // end-of-archive blocks
    if (!checksumMatches(header)) throw new SigwatchError('TRUST_ROOT', `archive/tar: invalid tar header at byte ${offset}`);
    const size = octal(header.subarray(124, 136), offset);
    const type = String.fromCharCode(header[156]!);
    const body = tar.subarray(offset + 512, offset + 512 + size);
    if (body.length < size) throw new SigwatchError('TRUST_ROOT', 'archive/tar: truncated archive');
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      longName = paxPath(body) ?? longName;
      continue;
    }
    if (type === 'L') {
      longName = cString(body);
      continue;
    }
    if (type === 'g') continue;
    const name = longName ?? headerName(header);
    longName = undefined;
    if (type !== '0' && type !== '\0' && type !== '7') continue; // directories, links, devices
    files.set(archivePath(name, opts.stripPrefix ?? ''), Buffer.from(body));
  }
  return files;
}

/** Names relative to the archive root; one that climbs out of it is refused (path traversal). */
function archivePath(name: string, stripPrefix: string): string {
  const normalized = posix.normalize(`/${name}`);
  if (normalized.startsWith('/..') || normalized.includes('\0')) throw new SigwatchError('TRUST_ROOT', `content filepath is tainted: ${name}`);
  let path = normalized;
  if (stripPrefix && path.startsWith(stripPrefix)) path = path.slice(stripPrefix.length);
  return path.replace(/^\/+/, '');
}

function headerName(header: Buffer): string {
  const name = cString(header.subarray(0, 100));
  const ustar = header.subarray(257, 262).toString('latin1') === 'ustar';
  const prefix = ustar ? cString(header.subarray(345, 500)) : '';
  return prefix ? `${prefix}/${name}` : name;
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end < 0 ? bytes.length : end).toString('utf8');
}

function octal(field: Buffer, at: number): number {
  const text = cString(field).trim();
  if (!/^[0-7]*$/.test(text)) throw new SigwatchError('TRUST_ROOT', `archive/tar: invalid size in the header at byte ${at}`);
  return text === '' ? 0 : parseInt(text, 8);
}

function checksumMatches(header: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return octal(header.subarray(148, 156), 0) === sum;
}

/** PAX records are `LEN key=value\n`; only `path` matters here. */
function paxPath(body: Buffer): string | undefined {
  let path: string | undefined;
  let offset = 0;
  while (offset < body.length) {
    const space = body.indexOf(0x20, offset);
    if (space < 0) break;
    const length = parseInt(body.subarray(offset, space).toString('latin1'), 10);
    if (!Number.isFinite(length) || length <= 0) break;
    const record = body.subarray(space + 1, offset + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (record.slice(0, eq) === 'path') path = record.slice(eq + 1);
    offset += length;
  }
  return path;
}
