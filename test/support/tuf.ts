import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startHttpServer } from './http-server.ts';

/**
 * A real TUF repository (spec 1.0, ed25519 role keys, consistent snapshots),
 * signed in the test: root, timestamp, snapshot and targets metadata plus
 * hash-prefixed target files, as sigstore's own TUF repositories are laid
 * out. Served over HTTP on 127.0.0.1 (a `TrustRoot` `remote`) or packed with
 * the system `tar` into policy-controller's `mirrorFS` (`repository/…`).
 */

export interface TufTarget {
  data: Buffer;
  /** Target custom metadata, e.g. sigstore's `{sigstore: {usage: "Fulcio", status: "Active", uri}}`. */
  custom?: Record<string, unknown>;
}

export interface TufRepositoryOptions {
  targets: Record<string, Buffer | TufTarget>;
  /** Expiry of every metadata file (default: a day from now). */
  expires?: Date;
  /** Expiry of timestamp.json alone, when it should differ. */
  timestampExpires?: Date;
}

export interface TufRepository {
  /** The trusted initial root (1.root.json), what a `TrustRoot` puts in `root`. */
  root: Buffer;
  /** Repository files by path relative to the mirror URL; tests may alter them. */
  files: Map<string, Buffer>;
  /** The earliest metadata expiry. */
  expires: Date;
  /** policy-controller's `mirrorFS`: a gzipped tar of `repository/`, made by the system tar. */
  mirrorFS(format?: 'gnu' | 'pax'): Buffer;
}

export interface ServedTufRepository {
  url: string;
  /** Paths requested so far, in order. */
  requests: string[];
  /** While true every request gets a 503. */
  offline: boolean;
  close(): Promise<void>;
}

type Signed = Record<string, unknown>;

interface RoleKey {
  id: string;
  privateKey: KeyObject;
  json: Record<string, unknown>;
}

export function createTufRepository(opts: TufRepositoryOptions): TufRepository {
  const expires = opts.expires ?? new Date(Date.now() + 24 * 3600_000);
  const keys = Object.fromEntries(['root', 'timestamp', 'snapshot', 'targets'].map((role) => [role, roleKey()])) as Record<string, RoleKey>;
  const files = new Map<string, Buffer>();
  const meta = (type: string, body: Signed, at = expires): Signed => ({ _type: type, spec_version: '1.0.31', version: 1, expires: tufTime(at), ...body });

  const root = signMetadata(
    meta('root', {
      consistent_snapshot: true,
      keys: Object.fromEntries(Object.values(keys).map((k) => [k.id, k.json])),
      roles: Object.fromEntries(Object.entries(keys).map(([role, k]) => [role, { keyids: [k.id], threshold: 1 }])),
    }),
    keys.root!,
  );
  const targetEntries: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(opts.targets)) {
    const target = Buffer.isBuffer(value) ? { data: value } : value;
    const hash = createHash('sha256').update(target.data).digest('hex');
    targetEntries[name] = { length: target.data.length, hashes: { sha256: hash }, ...(target.custom ? { custom: target.custom } : {}) };
    files.set(`targets/${hash}.${name}`, target.data);
  }
  const targets = signMetadata(meta('targets', { targets: targetEntries }), keys.targets!);
  const snapshot = signMetadata(meta('snapshot', { meta: { 'targets.json': { version: 1 } } }), keys.snapshot!);
  const timestampAt = opts.timestampExpires ?? expires;
  const timestamp = signMetadata(meta('timestamp', { meta: { 'snapshot.json': { version: 1 } } }, timestampAt), keys.timestamp!);
  files.set('1.root.json', root);
  files.set('root.json', root);
  files.set('1.targets.json', targets);
  files.set('1.snapshot.json', snapshot);
  files.set('timestamp.json', timestamp);

  return {
    root,
    files,
    expires: new Date(Math.min(expires.getTime(), timestampAt.getTime())),
    mirrorFS(format = 'gnu') {
      const dir = mkdtempSync(join(tmpdir(), 'sigwatch-tuf-mirror-'));
      try {
        for (const [path, data] of files) {
          const file = join(dir, 'repository', path);
          mkdirSync(dirname(file), { recursive: true });
          writeFileSync(file, data);
        }
        return execFileSync('tar', [`--format=${format}`, '-czf', '-', '-C', dir, 'repository'], { maxBuffer: 64 * 1024 * 1024 });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Serves the repository's files as they are when requested (tests may change them, or take it offline). */
export async function serveTufRepository(repo: TufRepository): Promise<ServedTufRepository> {
  const served = {
    url: '',
    requests: [] as string[],
    offline: false,
    close: async () => {},
  };
  const server = await startHttpServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
    served.requests.push(path);
    const data = repo.files.get(path);
    if (served.offline) res.writeHead(503).end();
    else if (!data) res.writeHead(404).end();
    else res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': data.length }).end(data);
  });
  served.url = server.url;
  served.close = server.close;
  return served;
}

/** The TrustRoot YAML for a served repository (`remote`) or a packed one (`repository`). */
export function tufTrustRootYaml(
  name: string,
  spec: { remote: { mirror: string; root: Buffer; targets?: string } } | { repository: { mirrorFS: Buffer; root: Buffer } },
): string {
  const body =
    'remote' in spec
      ? `  remote:\n    mirror: ${spec.remote.mirror}\n    root: ${spec.remote.root.toString('base64')}\n${spec.remote.targets ? `    targets: ${spec.remote.targets}\n` : ''}`
      : `  repository:\n    root: ${spec.repository.root.toString('base64')}\n    mirrorFS: ${spec.repository.mirrorFS.toString('base64')}\n`;
  return `apiVersion: policy.sigstore.dev/v1alpha1\nkind: TrustRoot\nmetadata: {name: ${name}}\nspec:\n${body}---\n`;
}

function roleKey(): RoleKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ type: 'spki', format: 'der' }).subarray(-32);
  const json = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: raw.toString('hex') } };
  return { id: createHash('sha256').update(canonicalJson(json)).digest('hex'), privateKey, json };
}

function signMetadata(signed: Signed, key: RoleKey): Buffer {
  const sig = sign(null, Buffer.from(canonicalJson(signed)), key.privateKey).toString('hex');
  return Buffer.from(JSON.stringify({ signatures: [{ keyid: key.id, sig }], signed }, null, 2));
}

/** OLPC canonical JSON for what this harness writes (ASCII strings, integers): sorted keys, no spaces. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function tufTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The targets a pre-`trusted_root.json` sigstore TUF repository carried for a
 * trusted root (sigstore/sigstore's custom metadata): `fulcio.crt.pem`,
 * `rekor.pub`, `ctfe.pub`, `tsa.chain.pem`.
 */
export function legacySigstoreTargets(trustedRoot: Record<string, unknown>): Record<string, TufTarget> {
  type Authority = { uri: string; certChain: { certificates: { rawBytes: string }[] } };
  type Log = { baseUrl: string; publicKey: { rawBytes: string } };
  const pem = (b64: string, label: string) => `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`;
  const chain = (a: Authority) => Buffer.from(a.certChain.certificates.map((c) => pem(c.rawBytes, 'CERTIFICATE')).join(''));
  const custom = (usage: string, uri: string) => ({ sigstore: { usage, status: 'Active', uri } });
  const fulcio = (trustedRoot.certificateAuthorities as Authority[])[0]!;
  const rekor = (trustedRoot.tlogs as Log[])[0]!;
  const targets: Record<string, TufTarget> = {
    'fulcio.crt.pem': { data: chain(fulcio), custom: custom('Fulcio', fulcio.uri) },
    'rekor.pub': { data: Buffer.from(pem(rekor.publicKey.rawBytes, 'PUBLIC KEY')), custom: custom('Rekor', rekor.baseUrl) },
  };
  const ctfe = (trustedRoot.ctlogs as Log[])[0];
  if (ctfe) targets['ctfe.pub'] = { data: Buffer.from(pem(ctfe.publicKey.rawBytes, 'PUBLIC KEY')), custom: custom('CTFE', ctfe.baseUrl) };
  const tsa = (trustedRoot.timestampAuthorities as Authority[])[0];
  if (tsa) targets['tsa.chain.pem'] = { data: chain(tsa), custom: custom('TSA', tsa.uri) };
  return targets;
}
