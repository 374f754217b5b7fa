import { createHash } from 'node:crypto';
import { SigwatchError } from '../errors.ts';

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Content addressed by `digest` must hash to it; anything else is tampering or corruption. */
export function assertDigest(bytes: Uint8Array, digest: string, what: string): void {
  if (!DIGEST_RE.test(digest)) {
    throw new SigwatchError('REGISTRY_PROTOCOL', `${what}: unsupported digest "${digest}" (only sha256 is accepted)`);
  }
  const actual = sha256Digest(bytes);
  if (actual !== digest) {
    throw new SigwatchError('DIGEST_MISMATCH', `${what}: content hashes to ${actual}, expected ${digest}`);
  }
}
