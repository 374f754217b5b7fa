import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Debian's `chromium`, headless, for pages a person reads: a page is opened
 * from a file:// URL and read through the DevTools protocol (the DOM as the
 * browser built it, queried with `evaluate`), dumped (`--dump-dom`) or
 * photographed (`--screenshot`). Background networking, component updates and
 * sync are off, and each run has a profile of its own, so nothing leaves the
 * machine. A missing chromium fails the test (CI installs it), never skips it.
 */

const BINARY = process.env.SIGWATCH_CHROMIUM ?? 'chromium';
const QUIET = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--hide-scrollbars',
];

function profile(): { dir: string; arg: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sigwatch-chromium-'));
  return { dir, arg: `--user-data-dir=${dir}` };
}

const leftovers = new Set<string>();
process.once('exit', () => {
  for (const dir of leftovers) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // a temp folder left behind; nothing a test asserted
    }
  }
});

/**
 * A profile's removal is cleanup, not a check: chromium's helper processes
 * may still be writing to it for a moment after the browser exits (seen on a
 * loaded machine), so a folder that will not go now goes when the process exits.
 */
function removeProfile(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  } catch {
    leftovers.add(dir);
  }
}

/** The DOM chromium built from the page, serialised (chromium needs JavaScript on for this). */
export function dumpDom(url: string): string {
  const p = profile();
  try {
    const out = spawnSync(BINARY, [...QUIET, p.arg, '--dump-dom', url], { encoding: 'utf8', timeout: 60_000, maxBuffer: 256 * 1024 * 1024 });
    if (out.error) throw new Error(`chromium --dump-dom: ${out.error.message} (is Debian's chromium installed?)`);
    if (out.status !== 0) throw new Error(`chromium --dump-dom exited ${out.status}: ${out.stderr.slice(-2000)}`);
    return out.stdout;
  } finally {
    removeProfile(p.dir);
  }
}

/** A PNG of the page at `width`×`height` (chromium's headless screenshot needs JavaScript on; sigwatch's pages forbid their own by CSP). */
export function screenshot(url: string, file: string, size = { width: 1280, height: 1600 }): void {
  const p = profile();
  try {
    const out = spawnSync(BINARY, [...QUIET, p.arg, `--window-size=${size.width},${size.height}`, `--screenshot=${file}`, url], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (out.error) throw new Error(`chromium --screenshot: ${out.error.message} (is Debian's chromium installed?)`);
    if (out.status !== 0) throw new Error(`chromium --screenshot exited ${out.status}: ${out.stderr.slice(-2000)}`);
  } finally {
    removeProfile(p.dir);
  }
}

export interface Page {
  /** Evaluates an expression in the page and returns its value (JSON-serialisable). */
  evaluate<T>(expression: string): Promise<T>;
  close(): Promise<void>;
}

/**
 * Opens `url` in a headless chromium with the DevTools protocol on a random
 * 127.0.0.1 port, and returns the loaded page. The page's own scripts, if it
 * had any, would run: evaluation through DevTools is not subject to the
 * page's Content-Security-Policy, so the page keeps its CSP as deployed.
 */
export async function openPage(url: string): Promise<Page> {
  const p = profile();
  // Its own process group, so that its helper processes end with it.
  const child = spawn(BINARY, [...QUIET, p.arg, '--remote-debugging-address=127.0.0.1', '--remote-debugging-port=0', url], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  const cleanup = async () => {
    if (child.exitCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
    }
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the group is gone already
    }
    removeProfile(p.dir);
  };
  try {
    const browserWs = await devtoolsUrl(child);
    const port = new URL(browserWs).port;
    const target = await pageTarget(port, url);
    const ws = new WebSocket(target);
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve(), { once: true });
      ws.addEventListener('error', () => reject(new Error('DevTools websocket failed')), { once: true });
    });
    let id = 0;
    const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
    ws.addEventListener('message', (ev) => {
      const msg = JSON.parse(String(ev.data)) as { id?: number; result?: unknown; error?: { message: string } };
      if (msg.id === undefined) return;
      const w = waiting.get(msg.id);
      waiting.delete(msg.id);
      if (msg.error) w?.reject(new Error(msg.error.message));
      else w?.resolve(msg.result);
    });
    const call = (method: string, params: Record<string, unknown>) =>
      new Promise<unknown>((resolve, reject) => {
        const n = ++id;
        waiting.set(n, { resolve, reject });
        ws.send(JSON.stringify({ id: n, method, params }));
      });
    const evaluate = async <T>(expression: string): Promise<T> => {
      const r = (await call('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true })) as {
        result: { value: T };
        exceptionDetails?: { text: string; exception?: { description?: string } };
      };
      if (r.exceptionDetails) throw new Error(`page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
      return r.result.value;
    };
    // Wait for the page itself (not the about:blank before it) to finish loading.
    const loaded = `location.href === ${JSON.stringify(url)} && document.readyState === 'complete'`;
    let ready = false;
    for (let i = 0; i < 400 && !(ready = await evaluate<boolean>(loaded)); i++) await new Promise((r) => setTimeout(r, 50));
    if (!ready) throw new Error(`chromium did not load ${url} in 20 s`);
    return {
      evaluate,
      close: async () => {
        ws.close();
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function devtoolsUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`chromium printed no DevTools address in 30 s: ${seen.slice(-2000)}`)), 30_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start chromium: ${err.message} (is Debian's chromium installed?)`));
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      seen += chunk.toString('utf8');
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
}

async function pageTarget(port: string, url: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const res = await fetch(`http://127.0.0.1:${port}/json/list`);
    const targets = (await res.json()) as { type: string; url: string; webSocketDebuggerUrl: string }[];
    const page = targets.find((t) => t.type === 'page' && t.url === url) ?? targets.find((t) => t.type === 'page');
    if (page) return page.webSocketDebuggerUrl;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('chromium opened no page');
}
