import { createPublicKey, createHash, type KeyObject } from 'node:crypto';
import { SigwatchError } from '../errors.ts';

export interface PublicKey {
  key: KeyObject;
  /** Short fingerprint (sha256 of SPKI DER) to name the key in verdicts. */
  id: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----/g;

/**
 * Keys parsed from each PEM document seen: a policy's `key.data` is the same
 * text for every image it judges, and parsing it (ASN.1, an SPKI export, a
 * hash) was the largest CPU cost of a key verification. Bounded, for policy
 * sets that churn.
 */
const parsed = new Map<string, PublicKey[]>();
const MAX_CACHED_DOCUMENTS = 1000;

/** Every public key in a PEM document: upstream accepts several in `key.data`. */
export function parsePublicKeys(pem: string, where: string): PublicKey[] {
  let keys = parsed.get(pem);
  if (!keys) {
    keys = parsePem(pem, where);
    if (parsed.size >= MAX_CACHED_DOCUMENTS) parsed.clear();
    parsed.set(pem, keys);
  }
  return keys;
}

function parsePem(pem: string, where: string): PublicKey[] {
  const blocks = [...pem.matchAll(PEM_BLOCK)];
  if (blocks.length === 0) throw new SigwatchError('CONFIG', `${where}: no PEM public key found`);
  return blocks.map((b, i) => {
    try {
      const key = createPublicKey({ key: b[0], format: 'pem' });
      const der = key.export({ type: 'spki', format: 'der' });
      return { key, id: `sha256:${createHash('sha256').update(der).digest('hex').slice(0, 16)}` };
    } catch (err) {
      throw new SigwatchError('CONFIG', `${where}: PEM block ${i} is not a public key: ${(err as Error).message}`);
    }
  });
}
