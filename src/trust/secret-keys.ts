import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SigwatchError } from '../errors.ts';
import { assertPullSecretName, SecretCache } from '../registry/providers/pull-secrets.ts';
import { parsePublicKeys, type PublicKey } from './keys.ts';
import type { Clock } from '../clock.ts';

/**
 * `key.secretRef`: a public key kept as a secret. Upstream reads a Kubernetes
 * Secret in its own namespace that must hold exactly one entry, a PEM public
 * key; sigwatch reads the Secrets Manager secret `<team prefix>/<name>` with the
 * same rule, so a policy can only name its own team's secrets. The value is the
 * Secret's data as JSON (`{"cosign.pub": "<PEM or base64 PEM>"}`) or the PEM itself.
 */
function parseKeySecret(text: string, label: string): PublicKey[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) return parsePublicKeys(trimmed, label);
  let data: unknown;
  try {
    data = JSON.parse(trimmed);
  } catch {
    throw new SigwatchError('CONFIG', `${label} is neither a PEM public key nor a JSON object of secret data`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new SigwatchError('CONFIG', `${label} is not a JSON object of secret data`);
  const entries = Object.entries(data);
  // Upstream's words, so the message reads the same as in a cluster.
  if (entries.length === 0) throw new SigwatchError('CONFIG', `${label} contains no data`);
  if (entries.length > 1) throw new SigwatchError('CONFIG', `${label} contains multiple data entries, only one is supported`);
  const value = entries[0]![1];
  if (typeof value !== 'string') throw new SigwatchError('CONFIG', `${label} contains an invalid public key`);
  const pem = value.trim().startsWith('-----BEGIN') ? value : Buffer.from(value, 'base64').toString('utf8');
  try {
    return parsePublicKeys(pem, label);
  } catch {
    throw new SigwatchError('CONFIG', `${label} contains an invalid public key`);
  }
}

export class SecretKeyStore {
  private readonly secretId: (name: string) => string;
  private readonly cache: SecretCache<PublicKey[]>;

  constructor(opts: { client: SecretsManagerClient; secretId: (name: string) => string; ttlMs?: number; now: Clock }) {
    this.secretId = opts.secretId;
    this.cache = new SecretCache({ client: opts.client, parse: parseKeySecret, ttlMs: opts.ttlMs, now: opts.now });
  }

  /** Names follow Kubernetes secret-name rules, checked before any AWS call: no `/`, no `..`. */
  resolve(name: string): Promise<PublicKey[]> {
    assertPullSecretName(name);
    const id = this.secretId(name);
    return this.cache.get(id, `key secret "${name}" (${id})`);
  }
}
