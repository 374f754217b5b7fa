import { format } from 'node:util';
import { TEST_SECRETS } from './secrets.ts';

/**
 * Preloaded into every test process (`node --import ./test/support/leak-guard.ts
 * --test …`): whatever the process writes to stdout or stderr, directly or
 * through console, is scanned for the suite's test secrets. A secret found is
 * masked in place (same length, so the test runner's serialised stream stays
 * readable), named by label on stderr, and the process exits non-zero: a
 * leak fails the run even when every assertion passed.
 */

interface Needle {
  label: string;
  value: string;
  /** The value as UTF-8 and as UTF-16LE: V8 serialises two-byte strings in the latter. */
  forms: Buffer[];
}

const needles: Needle[] = TEST_SECRETS.map(({ label, value }) => ({ label, value, forms: [Buffer.from(value, 'utf8'), Buffer.from(value, 'utf16le')] }));
const leaked = new Set<string>();
const stderrWrite = process.stderr.write.bind(process.stderr);

function report(label: string, where: string): void {
  const first = leaked.size === 0;
  if (leaked.has(`${label}|${where}`)) return;
  leaked.add(`${label}|${where}`);
  stderrWrite(`\nleak-guard: test secret "${label}" appeared on ${where}; it was masked, and this test process will fail\n`);
  if (first) {
    process.exitCode = 1;
    process.on('exit', () => {
      process.exitCode = 1;
    });
  }
}

function maskString(text: string, where: string): string {
  let out = text;
  for (const n of needles) {
    if (out.includes(n.value)) {
      report(n.label, where);
      out = out.split(n.value).join('*'.repeat(n.value.length));
    }
  }
  return out;
}

function maskBytes(bytes: Uint8Array, where: string): Uint8Array {
  let buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let copied = false;
  for (const n of needles) {
    for (const form of n.forms) {
      let at = buf.indexOf(form);
      if (at < 0) continue;
      report(n.label, where);
      if (!copied) {
        buf = Buffer.from(buf);
        copied = true;
      }
      // '*' in the same encoding as the form found, so lengths never change.
      const star = form.length === n.value.length ? Buffer.from('*'.repeat(n.value.length)) : Buffer.from('*'.repeat(n.value.length), 'utf16le');
      while (at >= 0) {
        star.copy(buf, at);
        at = buf.indexOf(form, at + form.length);
      }
    }
  }
  return buf;
}

function guard(stream: NodeJS.WriteStream, where: string): void {
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === 'string') return write(maskString(chunk, where), ...rest);
    if (chunk instanceof Uint8Array) return write(maskBytes(chunk, where), ...rest);
    return write(chunk, ...rest);
  }) as typeof stream.write;
}

guard(process.stdout, 'stdout');
guard(process.stderr, 'stderr');

// console normally writes through the streams above; checking its formatted
// text as well covers a console bound to other streams by the code under test.
for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
  const original = console[method].bind(console);
  console[method] = (...args: unknown[]) => {
    const text = format(...args);
    const masked = maskString(text, `console.${method}`);
    if (masked === text) original(...args);
    else original(masked);
  };
}
