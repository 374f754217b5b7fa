import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import bcrypt from 'bcryptjs';
import { stringify } from 'yaml';
import type { Blob, BuiltManifest } from './images.ts';
import type { TokenAuth } from './token-server.ts';
import { testTls, type TestTls } from './tls.ts';

export interface RegistryAuth {
  username: string;
  password: string;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT`, the registry part of an image reference. */
  host: string;
  /** `http://127.0.0.1:PORT`, or `https://` when started with `tls`. */
  url: string;
  auth?: RegistryAuth;
  /** Set when the registry trusts a token server; `auth` is then the pusher's account there. */
  tokenAuth?: TokenAuth;
  /**
   * The registry's clock minus this process's, from its `Date` header (to the
   * second). Not zero under `faketime`: Go reads the clock without libc, so
   * the binary keeps real time while Node is shifted.
   */
  clockOffsetMs: number;
  /** CPU the registry process has used so far, in ms (user + system, from /proc): benchmarks count the server's share. */
  cpuMs(): number;
  stop(): Promise<void>;
}

export interface StartRegistryOptions {
  /** htpasswd Basic auth, or with `tokenAuth` the account the harness pushes with. */
  auth?: RegistryAuth;
  /** Bearer token auth against a token server (see token-server.ts) instead of htpasswd. */
  tokenAuth?: TokenAuth;
  /**
   * Serve HTTPS with a certificate for 127.0.0.1 from the test CA (tls.ts),
   * which this process then trusts: the registry is reached as a real one is,
   * without naming it insecure.
   */
  tls?: boolean;
}

const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const START_ATTEMPTS = 3;

// Every manifest type we build, so the registry returns what was pushed
// instead of refusing (OCI) or down-converting (Docker schema 2).
const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** The `docker-registry` binary (distribution v2) on PATH; throws with the install hint when absent. */
export function registryBinaryPath(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'docker-registry');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  throw new Error('docker-registry binary not found: install it with `apt-get install docker-registry` (the harness tests need a real registry)');
}

/**
 * Starts a throwaway distribution registry on a free 127.0.0.1 port with
 * filesystem storage in a fresh temp folder, optionally behind htpasswd or
 * token auth.
 */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  const binary = registryBinaryPath();
  const dir = mkdtempSync(join(tmpdir(), 'sigwatch-registry-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  liveCleanups.add(removeDir);
  const failures: string[] = [];
  const tls = opts.tls ? await testTls() : undefined;
  const scheme = tls ? 'https' : 'http';
  // Another process can take the probed port before the registry binds it; a fresh port fixes that.
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    let running: Running;
    try {
      running = await launch(binary, dir, attempt, opts, tls);
    } catch (err) {
      failures.push((err as Error).message);
      continue;
    }
    let stopped: Promise<void> | undefined;
    const registry: TestRegistry = {
      host: `127.0.0.1:${running.port}`,
      url: `${scheme}://127.0.0.1:${running.port}`,
      clockOffsetMs: running.clockOffsetMs,
      cpuMs: () => processCpuMs(running.child.pid),
      stop: () => {
        stopped ??= stopChild(running.child).then(() => {
          liveCleanups.delete(running.kill);
          liveCleanups.delete(removeDir);
          removeDir();
        });
        return stopped;
      },
    };
    if (opts.auth) registry.auth = opts.auth;
    if (opts.tokenAuth) registry.tokenAuth = opts.tokenAuth;
    return registry;
  }
  removeDir();
  liveCleanups.delete(removeDir);
  throw new Error(`docker-registry did not start after ${START_ATTEMPTS} attempts:\n${failures.join('\n')}`);
}

interface Running {
  port: number;
  clockOffsetMs: number;
  child: ChildProcess;
  kill: () => void;
}

async function launch(binary: string, dir: string, attempt: number, opts: StartRegistryOptions, tls: TestTls | undefined): Promise<Running> {
  const port = await freePort();
  const logPath = join(dir, `registry-${attempt}.log`);
  const child = spawnUnref(binary, writeConfig(dir, port, opts, tls), logPath);
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  let failure: string | undefined;
  child.once('error', (err) => (failure = err.message));
  child.once('exit', (code, signal) => (failure ??= `docker-registry exited early (${code ?? signal})`));
  const kill = () => child.kill('SIGKILL');
  liveCleanups.add(kill);
  try {
    let clockOffsetMs = await waitUntilReady(url, opts.auth || opts.tokenAuth ? 401 : 200, () => failure);
    if (opts.tokenAuth) {
      // Tokens the registry checks are issued on its clock, whatever ours says, to within milliseconds:
      // tests of expiry leeway work on windows of a second or two.
      clockOffsetMs = await preciseClockOffset(url);
      opts.tokenAuth.alignClock?.(clockOffsetMs);
    }
    return { port, child, kill, clockOffsetMs };
  } catch (err) {
    kill();
    liveCleanups.delete(kill);
    throw new Error(`${(err as Error).message}\n--- registry log ---\n${readFileSync(logPath, 'utf8')}`, { cause: err });
  }
}

function writeConfig(dir: string, port: number, { auth, tokenAuth }: StartRegistryOptions, tls: TestTls | undefined): string {
  const http: Record<string, unknown> = { addr: `127.0.0.1:${port}` };
  if (tls) {
    const certificate = join(dir, 'tls-cert.pem');
    const key = join(dir, 'tls-key.pem');
    writeFileSync(certificate, tls.certPem);
    writeFileSync(key, tls.keyPem, { mode: 0o600 });
    http.tls = { certificate, key };
  }
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: 'error', accesslog: { disabled: true } },
    // The blob descriptor cache of Debian's packaged config (/etc/docker/registry/config.yml).
    storage: { cache: { blobdescriptor: 'inmemory' }, filesystem: { rootdirectory: join(dir, 'storage') }, delete: { enabled: true } },
    http,
  };
  if (tokenAuth) {
    const rootcertbundle = join(dir, 'token-root.pem');
    writeFileSync(rootcertbundle, tokenAuth.certPem);
    config.auth = { token: { realm: tokenAuth.realm, service: tokenAuth.service, issuer: tokenAuth.issuer, rootcertbundle } };
  } else if (auth) {
    const htpasswd = join(dir, 'htpasswd');
    // Cost 4 (bcrypt's minimum): the registry checks the hash on every request.
    writeFileSync(htpasswd, `${auth.username}:${bcrypt.hashSync(auth.password, 4)}\n`);
    config.auth = { htpasswd: { realm: 'sigwatch-test', path: htpasswd } };
  }
  const path = join(dir, 'config.yml');
  writeFileSync(path, stringify(config));
  return path;
}

/**
 * Output goes to a file and the child is unref'd, so a test that forgets
 * stop() still lets node exit; the exit hook below then kills the registry.
 */
function spawnUnref(binary: string, configPath: string, logPath: string): ChildProcess {
  const log = openSync(logPath, 'w');
  try {
    const child = spawn(binary, ['serve', configPath], { stdio: ['ignore', log, log] });
    child.unref();
    return child;
  } finally {
    closeSync(log);
  }
}

/** Resolves with the registry's clock offset once it answers `GET /v2/` as expected. */
async function waitUntilReady(url: string, expected: number, failure: () => string | undefined): Promise<number> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const failed = failure();
    if (failed) throw new Error(failed);
    try {
      const sent = Date.now();
      const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      // The Date header has whole seconds: the registry's second began at most 1 s before it says.
      if (res.status === expected) return Date.parse(res.headers.get('date') ?? '') + 500 - (sent + Date.now()) / 2 || 0;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`docker-registry at ${url} did not answer GET /v2/ with ${expected} within ${READY_TIMEOUT_MS} ms`);
}

/**
 * The registry's clock minus ours, from the moment its `Date` header turns to
 * the next second: requests back to back on loopback bracket that moment to
 * a few milliseconds (the header alone says only the second).
 */
async function preciseClockOffset(url: string): Promise<number> {
  const sample = async () => {
    const sent = Date.now();
    const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1_000) });
    await res.arrayBuffer();
    return { sent, received: Date.now(), second: Date.parse(res.headers.get('date') ?? '') };
  };
  let previous = await sample();
  for (let i = 0; i < 300; i++) {
    const current = await sample();
    if (current.second !== previous.second && current.received - previous.received < 100) {
      return current.second - (previous.received + current.sent) / 2;
    }
    previous = current;
  }
  throw new Error(`docker-registry at ${url}: could not read its clock from its Date header`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

// Synchronous cleanups for registries still running when the process ends
// (a failed test that never reached stop(), or the runner cancelling us).
const liveCleanups = new Set<() => void>();

function runCleanups(): void {
  // Newest first: a registry's kill comes after its folder's removal in the set.
  for (const cleanup of [...liveCleanups].reverse()) {
    try {
      cleanup();
    } catch {
      // best effort on the way out
    }
  }
  liveCleanups.clear();
}

process.once('exit', runCleanups);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    runCleanups();
    // Our listener suppressed the default action; unless someone else handles
    // the signal, re-raise it now that the listener is gone.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  });
}

// ---- talking to the registry ------------------------------------------------

function authHeaders(reg: TestRegistry): Record<string, string> {
  // A token registry ignores Basic: request() answers its challenge instead.
  if (!reg.auth || reg.tokenAuth) return {};
  const token = Buffer.from(`${reg.auth.username}:${reg.auth.password}`).toString('base64');
  return { authorization: `Basic ${token}` };
}

async function request(reg: TestRegistry, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = { ...authHeaders(reg), ...(init.headers as Record<string, string> | undefined) };
  const res = await fetch(new URL(path, reg.url), { ...init, headers });
  if (res.status !== 401 || !reg.tokenAuth) return res;
  await res.arrayBuffer();
  // Token auth: trade the pusher's account for a token of the scope the challenge names, then retry.
  const token = await tokenFor(reg, res.headers.get('www-authenticate') ?? '');
  return fetch(new URL(path, reg.url), { ...init, headers: { ...headers, authorization: `Bearer ${token}` } });
}

async function tokenFor(reg: TestRegistry, challenge: string): Promise<string> {
  const realm = new URL(reg.tokenAuth!.realm);
  realm.searchParams.set('service', reg.tokenAuth!.service);
  const scope = /scope="([^"]*)"/.exec(challenge)?.[1];
  if (scope) realm.searchParams.set('scope', scope);
  const basic = reg.auth ? { authorization: `Basic ${Buffer.from(`${reg.auth.username}:${reg.auth.password}`).toString('base64')}` } : undefined;
  const res = await fetch(realm, { headers: basic });
  if (res.status !== 200) throw new Error(`token server refused the harness (HTTP ${res.status}) for scope ${scope}`);
  return ((await res.json()) as { token: string }).token;
}

async function expectStatus(res: Response, status: number, what: string): Promise<void> {
  if (res.status !== status) {
    throw new Error(`${what}: expected HTTP ${status}, got ${res.status}: ${await res.text()}`);
  }
  await res.arrayBuffer();
}

/** GET a registry path (e.g. `/v2/repo/manifests/tag`), with credentials when the registry has them. */
export function rawGet(reg: TestRegistry, path: string): Promise<Response> {
  return request(reg, path, { headers: { accept: MANIFEST_ACCEPT } });
}

async function pushBlob(reg: TestRegistry, repo: string, blob: Blob): Promise<void> {
  const head = await request(reg, `/v2/${repo}/blobs/${blob.digest}`, { method: 'HEAD' });
  if (head.status === 200) return;
  const start = await request(reg, `/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await expectStatus(start, 202, `start upload of ${blob.digest}`);
  const location = new URL(start.headers.get('location') ?? '', reg.url);
  location.searchParams.set('digest', blob.digest);
  const put = await request(reg, location.toString(), {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: blob.bytes,
  });
  await expectStatus(put, 201, `upload of ${blob.digest}`);
}

/**
 * Pushes a manifest with everything it references: blobs, then child
 * manifests by digest (the registry rejects an index whose children are
 * missing), then the manifest itself under `reference` (tag or digest).
 */
export async function pushManifest(reg: TestRegistry, repo: string, reference: string, m: BuiltManifest): Promise<void> {
  for (const blob of m.blobs) await pushBlob(reg, repo, blob);
  for (const child of m.children ?? []) await pushManifest(reg, repo, child.digest, child);
  const res = await request(reg, `/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'content-type': m.mediaType },
    body: m.bytes,
  });
  await expectStatus(res, 201, `push of ${repo}:${reference}`);
  const digest = res.headers.get('docker-content-digest');
  if (digest !== m.digest) throw new Error(`registry stored ${repo}:${reference} as ${digest}, expected ${m.digest}`);
}

export async function deleteManifest(reg: TestRegistry, repo: string, digest: string): Promise<void> {
  const res = await request(reg, `/v2/${repo}/manifests/${digest}`, { method: 'DELETE' });
  await expectStatus(res, 202, `delete of ${repo}@${digest}`);
}

/** utime + stime of a process from /proc/PID/stat, in ms (clock ticks are 100 Hz on Linux). */
function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
