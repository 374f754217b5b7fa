import type { CertificateIdentity } from '../signatures/certificate-identity.ts';
import { compileGoRegExp } from './regexp.ts';
import type { Identity } from './types.ts';

/**
 * cosign's `CheckCertificatePolicy`: the certificate passes when one listed
 * identity matches both its issuer and one of its SANs. A regexp wins over an
 * exact value when both are given, matching is unanchored (Go's MatchString),
 * and an empty constraint matches anything.
 */
export function matchesAnyIdentity(identities: Identity[], actual: CertificateIdentity): boolean {
  return identities.some((id) => {
    const issuerOk = id.issuerRegExp ? test(id.issuerRegExp, actual.issuer) : id.issuer ? id.issuer === actual.issuer : true;
    if (!issuerOk) return false;
    if (id.subjectRegExp) return actual.sans.some((san) => test(id.subjectRegExp!, san));
    if (id.subject) return actual.sans.includes(id.subject);
    return true;
  });
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
