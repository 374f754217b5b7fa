import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildSamples, generateKeyPair, keyPolicyYaml, writeSamplesLayout } from '../support/index.ts';

/**
 * Hostile OCI image layouts through `sigwatch verify oci:…`, each run as its
 * own process with a deadline, because the faults here used to hang the
 * process (a FIFO index.json) or read without end (a blob linked to
 * /dev/zero): only regular files inside the layout are read, and only after
 * their size (fstat on the opened file) is within the cap.
 */

const CLI = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));
const RUN_TIMEOUT_MS = 20_000;
const key = generateKeyPair();
const samples = buildSamples({ dockerReference: 'registry.example.com/team/app', key: key.privateKey, otherKey: generateKeyPair().privateKey });
const signed = samples.find((s) => s.tag === 'signed')!;
const signature = signed.signature!;
const payload = signature.blobs.find((b) => b.digest === signature.json.layers![0]!.digest)!;
const hex = (digest: string) => digest.replace(/^sha256:/, '');

const work = mkdtempSync(join(tmpdir(), 'sigwatch-layouts-'));
const pristine = join(work, 'pristine');
const policy = join(work, 'release.yaml');
before(async () => {
  await writeSamplesLayout(pristine, samples);
  writeFileSync(policy, keyPolicyYaml('release', '**', key.publicKeyPem));
});
after(() => rmSync(work, { recursive: true, force: true }));

let copies = 0;
/** A fresh copy of the good layout, to be spoiled one way. */
function layout(): string {
  const dir = join(work, `layout-${++copies}`);
  cpSync(pristine, dir, { recursive: true });
  return dir;
}

/** `sigwatch verify oci:DIR:signed` in a process of its own, killed (and the test failed) past the deadline. */
function verify(dir: string, tag = 'signed'): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, 'verify', `oci:${dir}:${tag}`, '--policies', policy, '--format', 'json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sigwatch verify oci:${dir}:${tag} still running after ${RUN_TIMEOUT_MS} ms (killed)`));
    }, RUN_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

function reasons(r: { stdout: string; stderr: string }): string {
  assert.ok(r.stdout.trim(), `no verdict printed; stderr: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { reasons: string[] }).reasons.join('\n');
}

describe('hostile OCI image layouts (sigwatch verify oci:)', () => {
  it('admits the good layout (the baseline each fault spoils), a blob linked inside the layout included', async () => {
    const dir = layout();
    // A blob stored once and linked from its name, as tools that share blobs do: inside the layout, so read.
    const shared = join(dir, 'shared-payload');
    cpSync(join(dir, 'blobs', 'sha256', hex(payload.digest)), shared);
    unlinkSync(join(dir, 'blobs', 'sha256', hex(payload.digest)));
    symlinkSync(shared, join(dir, 'blobs', 'sha256', hex(payload.digest)));
    const r = await verify(dir);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  it('refuses a FIFO index.json at once instead of waiting for a writer (LAYOUT_INVALID naming it)', async () => {
    const dir = layout();
    unlinkSync(join(dir, 'index.json'));
    execFileSync('mkfifo', [join(dir, 'index.json')]);
    const r = await verify(dir);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(reasons(r), new RegExp(`oci:${escape(dir)}: index\\.json is a FIFO, not a regular file`));
  });

  it('refuses a FIFO blob (the signature payload) without blocking on it', async () => {
    const dir = layout();
    unlinkSync(join(dir, 'blobs', 'sha256', hex(payload.digest)));
    execFileSync('mkfifo', [join(dir, 'blobs', 'sha256', hex(payload.digest))]);
    const r = await verify(dir);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(reasons(r), new RegExp(`blobs/sha256/${hex(payload.digest)} is a FIFO, not a regular file`));
  });

  for (const [what, target] of [
    ['/dev/zero', '/dev/zero'],
    ['a file outside the layout', join(work, 'outside.json')],
  ] as const) {
    it(`refuses a blob symlinked to ${what}, reading none of it`, async () => {
      writeFileSync(join(work, 'outside.json'), payload.bytes);
      const dir = layout();
      unlinkSync(join(dir, 'blobs', 'sha256', hex(payload.digest)));
      symlinkSync(target, join(dir, 'blobs', 'sha256', hex(payload.digest)));
      const r = await verify(dir);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(reasons(r), new RegExp(`blobs/sha256/${hex(payload.digest)} leads through a symbolic link to ${escape(target)}, outside the layout`));
    });
  }

  it('refuses an index.json symlinked out of the layout, and a blobs folder that is', async () => {
    const index = layout();
    const outside = join(work, 'index-outside.json');
    cpSync(join(index, 'index.json'), outside);
    unlinkSync(join(index, 'index.json'));
    symlinkSync(outside, join(index, 'index.json'));
    const r = await verify(index);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(reasons(r), new RegExp(`index\\.json leads through a symbolic link to ${escape(outside)}, outside the layout`));

    const blobs = layout();
    const elsewhere = join(work, `blobs-elsewhere-${copies}`);
    cpSync(join(blobs, 'blobs'), elsewhere, { recursive: true });
    rmSync(join(blobs, 'blobs'), { recursive: true });
    symlinkSync(elsewhere, join(blobs, 'blobs'));
    const b = await verify(blobs);
    assert.equal(b.code, 1, b.stdout + b.stderr);
    assert.match(reasons(b), /blobs\/sha256\/[0-9a-f]{64} leads through a symbolic link to .*, outside the layout/);
  });

  it('refuses a 3 GiB (sparse) index.json by its size, before reading it (TOO_LARGE)', async () => {
    const dir = layout();
    truncateSync(join(dir, 'index.json'), 3 * 1024 ** 3);
    const r = await verify(dir);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(reasons(r), /index\.json: 3221225472 bytes exceeds the 4194304-byte limit \(not read\)/);
  });

  it('refuses a folder where a blob should be', async () => {
    const dir = layout();
    unlinkSync(join(dir, 'blobs', 'sha256', hex(payload.digest)));
    mkdirSync(join(dir, 'blobs', 'sha256', hex(payload.digest)));
    const r = await verify(dir);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(reasons(r), new RegExp(`blobs/sha256/${hex(payload.digest)} is a folder, not a regular file`));
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
