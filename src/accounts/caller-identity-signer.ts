import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { SignedAwsRequest } from '../registry/providers/gcp.ts';
import type { Clock } from '../clock.ts';

/**
 * sigwatch's AWS identity, as Google's workload identity federation takes it:
 * an STS `GetCallerIdentity` request signed with SigV4 that Google replays to
 * AWS to learn who is asking. The target resource header (the pool provider)
 * is signed with the rest, so a request made for one provider cannot be
 * exchanged at another. Nothing is sent to AWS from here.
 */

export interface CallerIdentitySignerOptions {
  /** Region of the STS endpoint named in the request (Google accepts any regional endpoint); a provider is asked at each signing. */
  region: string | (() => Promise<string>);
  /** sigwatch's own credentials (the function's role), never a member account's. */
  credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  now: Clock;
}

export function callerIdentitySigner(opts: CallerIdentitySignerOptions): (audience: string) => Promise<SignedAwsRequest> {
  const region = opts.region;
  return async (audience) => {
    const r = typeof region === 'string' ? region : await region();
    const hostname = `sts.${r}.amazonaws.com${r.startsWith('cn-') ? '.cn' : ''}`;
    // No x-amz-content-sha256: the request Google's own clients send signs host, date, token and target only.
    const signer = new SignatureV4({ service: 'sts', region: r, credentials: opts.credentials, sha256: Sha256, applyChecksum: false });
    const signed = await signer.sign(
      {
        method: 'POST',
        protocol: 'https:',
        hostname,
        path: '/',
        query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
        headers: { host: hostname, 'x-goog-cloud-target-resource': audience },
        body: '',
      },
      { signingDate: new Date(opts.now()) },
    );
    return { url: `https://${hostname}?Action=GetCallerIdentity&Version=2011-06-15`, method: 'POST', headers: { ...signed.headers } as Record<string, string> };
  };
}
