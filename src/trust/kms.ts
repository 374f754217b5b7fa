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
 * Whether sigwatch may send a signed `GetPublicKey` to the endpoint a
 * reference names; the reason it may not, else undefined. The request carries
 * a SigV4 signature made with the session (and its token), and the endpoint
 * is written by the policy's author: only AWS's own KMS endpoints for the
 * key's region (`kms.` or `kms-fips.REGION.amazonaws.com`, `.amazonaws.com.cn`
 * in China), port 443, are trusted with it, and any other the operator lists
 * (`allowed`: `HOST[:PORT]`, as written in references; a VPC endpoint, a local
 * KMS for tests). No endpoint at all is the SDK's own for the region.
 */
export function kmsEndpointRefusal(key: AwsKmsKey, allowed: readonly string[]): string | undefined {
  if (key.endpoint === '') return undefined;
  const endpoint = normalEndpoint(key.endpoint);
  const suffix = key.region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  const own = [`kms.${key.region}.${suffix}`, `kms-fips.${key.region}.${suffix}`];
  if (own.includes(endpoint) || allowed.some((a) => normalEndpoint(a) === endpoint)) return undefined;
  const shown = key.endpoint.slice(0, 100);
  return (
    `KMS key ${key.arn}: endpoint ${shown} is not one of AWS's own KMS endpoints for ${key.region} (${own.join(', ')}), ` +
    `so no signed request is sent to it; an operator who trusts it allows it with SIGWATCH_KMS_ENDPOINTS=${shown} (the functions) or --kms-endpoint ${shown} (sigwatch verify)`
  );
}

/** `HOST[:PORT]` compared case-insensitively, the HTTPS port implied. */
function normalEndpoint(endpoint: string): string {
  const lower = endpoint.toLowerCase();
  return lower.endsWith(':443') ? lower.slice(0, -4) : lower;
}

/**
 * Public keys of AWS KMS keys, fetched once with `GetPublicKey` (through a
 * client for the key's account, region and endpoint, which the caller builds
 * with that account's role) and kept: a KMS key's public half never changes.
 * A reference whose endpoint is not AWS's own nor in `allowedEndpoints` is
 * refused before any client is made (see kmsEndpointRefusal).
 */
export class KmsKeyResolver {
  private readonly clientFor: (key: AwsKmsKey) => Promise<KMSClient>;
  private readonly allowedEndpoints: readonly string[];
  private readonly keys = new Map<string, Promise<PublicKey>>();

  constructor(clientFor: (key: AwsKmsKey) => Promise<KMSClient>, opts: { allowedEndpoints?: readonly string[] } = {}) {
    this.clientFor = clientFor;
    this.allowedEndpoints = opts.allowedEndpoints ?? [];
  }

  resolve(kms: string): Promise<PublicKey> {
    const key = parseKmsReference(kms);
    const refusal = kmsEndpointRefusal(key, this.allowedEndpoints);
    if (refusal) return Promise.reject(new SigwatchError('CONFIG', refusal));
    // Per endpoint too: a key read from an endpoint the operator allowed is that endpoint's answer, not AWS's.
    const cacheKey = `${normalEndpoint(key.endpoint)} ${key.arn}`;
    let pending = this.keys.get(cacheKey);
    if (!pending) {
      pending = this.fetch(key);
      // A failure is not remembered: the next verification asks again.
      pending.catch(() => this.keys.delete(cacheKey));
      this.keys.set(cacheKey, pending);
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
