import { reasonOf } from '../errors.ts';
import { signedDigest } from '../signatures/simple-signing.ts';
import type { SignatureLookup } from '../signatures/types.ts';
import { findSigningKey, type HashAlgorithm } from '../signatures/verify-key.ts';
import { parsePublicKeys } from '../trust/keys.ts';
import type { Authority, Source } from './types.ts';
import type { AuthorityResult, VerifiedSignature } from './verdict.ts';

/** What an authority check needs to know about the image, with I/O passed in. */
export interface AuthorityEnv {
  imageDigest: string;
  /** The image's signatures in a source (the image's own repository when undefined). */
  signatures(source: Source | undefined): Promise<SignatureLookup>;
}

/**
 * One authority's verdict on one image. Any error is a `fail` with its reason:
 * a policy passes only on positive evidence.
 */
export async function checkAuthority(authority: Authority, env: AuthorityEnv): Promise<AuthorityResult> {
  const result = (verdict: 'pass' | 'fail', reason: string, signatures: VerifiedSignature[] = []): AuthorityResult => ({
    name: authority.name,
    verdict,
    reason,
    signatures,
  });
  try {
    if (authority.static) {
      const pass = authority.static.action === 'pass';
      return result(pass ? 'pass' : 'fail', authority.static.message || `static action ${authority.static.action}`);
    }
    if (authority.attestations?.length) return result('fail', 'attestation authorities are not supported yet');
    if (authority.keyless) return result('fail', 'keyless authorities are not supported yet');
    if (authority.key) {
      if (authority.key.data === undefined) return result('fail', 'key authorities with kms or secretRef are not supported yet');
      return await checkKeyAuthority(authority, authority.key.data, env, result);
    }
    return result('fail', 'authority has no key, keyless or static');
  } catch (err) {
    return result('fail', reasonOf(err));
  }
}

async function checkKeyAuthority(
  authority: Authority,
  pem: string,
  env: AuthorityEnv,
  result: (v: 'pass' | 'fail', reason: string, s?: VerifiedSignature[]) => AuthorityResult,
): Promise<AuthorityResult> {
  const keys = parsePublicKeys(pem, `authority ${authority.name} key.data`);
  const hash = (authority.key?.hashAlgorithm ?? 'sha256') as HashAlgorithm;
  const sources = authority.source?.length ? authority.source : [undefined];
  const verified: VerifiedSignature[] = [];
  const failures: string[] = [];
  let found = 0;
  for (const source of sources) {
    const lookup = await env.signatures(source);
    failures.push(...lookup.problems);
    found += lookup.signatures.length;
    for (const sig of lookup.signatures) {
      const signed = signedDigest(sig.payload);
      if ('error' in signed) {
        failures.push(`${sig.digest}: ${signed.error}`);
        continue;
      }
      if (signed.digest !== env.imageDigest) {
        failures.push(`${sig.digest}: signs ${signed.digest}, not this image`);
        continue;
      }
      const key = findSigningKey(sig, keys, hash);
      if (!key) {
        failures.push(`${sig.digest}: signature does not verify with the authority's key`);
        continue;
      }
      verified.push({ digest: sig.digest, identity: { key: key.id } });
    }
  }
  if (verified.length > 0) return result('pass', `${verified.length} valid signature(s)`, verified);
  if (found === 0 && failures.length === 0) return result('fail', 'no signatures found');
  return result('fail', `no valid signatures: ${failures.join('; ')}`);
}
