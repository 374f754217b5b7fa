import { reasonOf } from '../errors.ts';
import { signedDigest } from '../signatures/simple-signing.ts';
import type { SignatureLookup } from '../signatures/types.ts';
import { findSigningKey, type HashAlgorithm } from '../signatures/verify-key.ts';
import { parsePublicKeys } from '../trust/keys.ts';
import type { Authority, Source } from './types.ts';
import type { AuthorityResult, VerifiedSignature } from './verdict.ts';

/**
 * Upstream turns every `source` entry into registry options applied in order,
 * so the last `oci` and the last `tagPrefix` win and pull secrets add up:
 * sources are one place to look, not alternatives.
 */
export function effectiveSource(authority: Authority): Source | undefined {
  if (!authority.source?.length) return undefined;
  const out: Source = {};
  for (const s of authority.source) {
    if (s.oci) out.oci = s.oci;
    if (s.tagPrefix) out.tagPrefix = s.tagPrefix;
    if (s.signaturePullSecrets?.length) out.signaturePullSecrets = [...(out.signaturePullSecrets ?? []), ...s.signaturePullSecrets];
  }
  return out;
}

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
      // Upstream's wording, so messages read the same as in a cluster.
      if (authority.static.action === 'pass') return result('pass', 'allowed by static policy');
      return result('fail', `disallowed by static policy: ${authority.static.message ?? ''}`);
    }
    if (authority.attestations?.length) return result('fail', 'attestation authorities are not supported yet');
    if (authority.keyless) return result('fail', 'keyless authorities are not supported yet');
    if (authority.key) {
      if (authority.key.data === undefined) return result('fail', 'key authorities with kms or secretRef are not supported yet');
      // With ctlog or rfc3161timestamp upstream requires that evidence too; never skip it silently.
      if (authority.ctlog || authority.rfc3161timestamp) {
        return result('fail', 'transparency log and timestamp checks for key authorities are not supported yet');
      }
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
  const verified: VerifiedSignature[] = [];
  const lookup = await env.signatures(effectiveSource(authority));
  const failures = [...lookup.problems];
  for (const sig of lookup.signatures) {
    // Authenticate the payload before believing anything it says.
    const key = findSigningKey(sig, keys, hash);
    if (!key) {
      failures.push(`${sig.digest}: signature does not verify with the authority's key`);
      continue;
    }
    const signed = signedDigest(sig.payload);
    if ('error' in signed) {
      failures.push(`${sig.digest}: ${signed.error}`);
      continue;
    }
    if (signed.digest !== env.imageDigest) {
      failures.push(`${sig.digest}: signs ${signed.digest}, not this image`);
      continue;
    }
    verified.push({ digest: sig.digest, identity: { key: key.id } });
  }
  if (verified.length > 0) return result('pass', `${verified.length} valid signature(s)`, verified);
  if (lookup.signatures.length === 0 && failures.length === 0) return result('fail', 'no signatures found');
  return result('fail', `no valid signatures: ${failures.join('; ')}`);
}
