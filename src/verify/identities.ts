import type { CertificateIdentity } from './sigstore/certificate-identity.ts';
import { compileGoRegExp } from '../policy/regexp.ts';
import type { Identity } from '../policy/types.ts';

/**
 * cosign's `CheckCertificatePolicy`: the certificate passes when one listed
 * identity matches both its issuer and one of its SANs. A regexp wins over an
 * exact value when both are given, matching is unanchored (Go's MatchString),
 * and an empty constraint matches anything.
 *
 * Returns the SAN that satisfied an identity (the first SAN when the identity
 * constrains no subject), or undefined when none matches, so a verdict names
 * the identity the policy accepted, not whatever SAN comes first.
 */
export function matchedSubject(identities: Identity[], actual: CertificateIdentity): string | undefined {
  for (const id of identities) {
    const issuerOk = id.issuerRegExp ? test(id.issuerRegExp, actual.issuer) : id.issuer ? id.issuer === actual.issuer : true;
    if (!issuerOk) continue;
    const subject = id.subjectRegExp
      ? actual.sans.find((san) => test(id.subjectRegExp!, san))
      : id.subject
        ? actual.sans.find((san) => san === id.subject)
        : (actual.sans[0] ?? '');
    if (subject !== undefined) return subject;
  }
  return undefined;
}

export function describeIdentity(actual: CertificateIdentity): string {
  return `subjects [${actual.sans.join(', ')}] with issuer ${actual.issuer || '(none)'}`;
}

const compiled = new Map<string, ReturnType<typeof compileGoRegExp>>();

function test(source: string, value: string): boolean {
  let re = compiled.get(source);
  if (!re) {
    re = compileGoRegExp(source);
    compiled.set(source, re);
  }
  // Validation rejects bad regexps; if one gets here anyway it matches nothing.
  return re.ok && re.matcher.test(value);
}
