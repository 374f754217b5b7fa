import { createHash, createPublicKey } from 'node:crypto';
import type { KMSClient } from '@aws-sdk/client-kms';
import { SigwatchError } from '../errors.ts';
import type { PublicKey } from './keys.ts';

/** What an `awskms://[ENDPOINT]/arn:…` reference names. */
export interface AwsKmsKey {
  arn: string;
  region: string;
  account: string;
  /** Custom endpoint (a VPC endpoint or a test server), empty for AWS's own. */
  endpoint: string;
}

const ARN = /^arn:(aws|aws-us-gov|aws-cn):kms:([a-z0-9-]+):(\d{12}):(key\/.+|alias\/.+)$/;

/**
 * Reads a `key.kms` reference. Only AWS KMS is supported: sigwatch runs on AWS,
 * and the other providers would need their cloud's credentials; they get a
 * clear refusal, never a skipped check.
 */
export function parseKmsReference(kms: string): AwsKmsKey {
  const provider = /^([a-z]+):\/\//.exec(kms)?.[1];
  if (provider !== 'awskms') {
    throw new SigwatchError('CONFIG', `key.kms "${kms.slice(0, 80)}": ${provider ?? 'this'} KMS provider is not supported (only awskms:// keys are)`);
  }
  const rest = kms.slice('awskms://'.length);
  const slash = rest.indexOf('/');
  const endpoint = slash < 0 ? '' : rest.slice(0, slash);
  const m = ARN.exec(slash < 0 ? rest : rest.slice(slash + 1));
  if (!m) throw new SigwatchError('CONFIG', `key.kms "${kms.slice(0, 120)}": expected awskms:///arn:aws:kms:REGION:ACCOUNT:key/ID or alias/NAME`);
  return { arn: m[0], region: m[2]!, account: m[3]!, endpoint };
}

/**
 * Public keys of AWS KMS keys, fetched once with `GetPublicKey` (through a
 * client for the key's account and region, which the caller builds with that
 * account's role) and kept: a KMS key's public half never changes.
 */
export class KmsKeyResolver {
  private readonly clientFor: (key: AwsKmsKey) => Promise<KMSClient>;
  private readonly keys = new Map<string, Promise<PublicKey>>();

  constructor(clientFor: (key: AwsKmsKey) => Promise<KMSClient>) {
    this.clientFor = clientFor;
  }

  resolve(kms: string): Promise<PublicKey> {
    const key = parseKmsReference(kms);
    let pending = this.keys.get(key.arn);
    if (!pending) {
      pending = this.fetch(key);
      // A failure is not remembered: the next verification asks again.
      pending.catch(() => this.keys.delete(key.arn));
      this.keys.set(key.arn, pending);
    }
    return pending;
  }

  private async fetch(key: AwsKmsKey): Promise<PublicKey> {
    let der: Uint8Array | undefined;
    try {
      const client = await this.clientFor(key);
      // Loaded here, not at cold start: few policies name a KMS key (the client comes the same way).
      const { GetPublicKeyCommand } = await import('@aws-sdk/client-kms');
      der = (await client.send(new GetPublicKeyCommand({ KeyId: key.arn }))).PublicKey;
    } catch (err) {
      const code = (err as { name?: string }).name ?? 'Error';
      throw new SigwatchError('CONFIG', `KMS key ${key.arn}: GetPublicKey failed (${code})`, { cause: err });
    }
    if (!der) throw new SigwatchError('CONFIG', `KMS key ${key.arn}: GetPublicKey returned no public key`);
    const publicKey = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
    return { key: publicKey, id: `sha256:${createHash('sha256').update(der).digest('hex').slice(0, 16)}` };
  }
}
