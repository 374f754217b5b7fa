import { mustCompileGoRegExp } from './regexp.ts';

/**
 * KMS key references (`key.kms`), checked as policy-controller's
 * `common.ValidateKMS` checks them: a known provider prefix and, for AWS, the
 * key forms sigstore's AWS KMS client accepts. Other providers are only
 * checked for their prefix, as upstream does.
 */

/** In upstream's order, which its error message prints. */
const KMS_PROVIDERS = ['awskms://', 'azurekms://', 'hashivault://', 'gcpkms://'];

const KMS_FORMAT = 'kms key should be in the format awskms://[ENDPOINT]/[ID/ALIAS/ARN] (endpoint optional)';
const AWS_UUID = 'm?r?k?-?[A-Fa-f0-9]{8}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{12}';
const AWS_ARN = 'arn:(?:aws|aws-us-gov|aws-cn):kms:[a-z0-9-]+:\\d{12}:';
// sigstore's AWS KMS client's regexps, compiled as Go does: there `.` also matches `\r` and U+2028.
const AWS_KMS_FORMS = [
  `^awskms://([^/]*)/(${AWS_UUID})$`,
  `^awskms://([^/]*)/(${AWS_ARN}key/${AWS_UUID})$`,
  `^awskms://([^/]*)/((alias/.*))$`,
  `^awskms://([^/]*)/(${AWS_ARN}(alias/.*))$`,
].map(mustCompileGoRegExp);

/** Why upstream refuses this `key.kms` value, in its words, or undefined. */
export function kmsReferenceError(kms: string): string | undefined {
  if (!KMS_PROVIDERS.some((p) => kms.startsWith(p))) {
    return `malformed KMS format, should be prefixed by any of the supported providers: [${KMS_PROVIDERS.join(' ')}]`;
  }
  return kms.startsWith('awskms://') ? awsKmsError(kms) : undefined;
}

/**
 * Upstream's AWS checks, in order. Note the last one: the key part must parse
 * as an ARN, so plain key ids (`awskms:///1234abcd-…`) and alias names
 * (`awskms:///alias/x`) are rejected although the format regexps allow them.
 */
function awsKmsError(kms: string): string | undefined {
  const parts = kms.split('/');
  if (parts.length < 4) {
    return "malformed AWS KMS format 'awskms://$ENDPOINT/$KEYID', should be conformant with KMS standard documented here: https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id";
  }
  if (!AWS_KMS_FORMS.some((re) => re.test(kms))) return KMS_FORMAT;
  const endpoint = parts[2]!;
  if (endpoint.startsWith('arn') || endpoint.startsWith('alias')) return KMS_FORMAT;
  if (endpoint !== '') {
    const reason = goSplitHostPortError(endpoint);
    if (reason) return `malformed endpoint: ${reason}`;
  }
  const keyId = parts[3]!;
  if (!keyId.startsWith('arn:')) return 'failed to parse either key or alias arn: arn: invalid prefix';
  // The format regexps above guarantee the ARN has its sections and a key or alias resource.
  return undefined;
}

/** Go's `net.SplitHostPort` error text, or undefined when it splits. */
function goSplitHostPortError(hostport: string): string | undefined {
  const fail = (why: string) => `address ${hostport}: ${why}`;
  const colon = hostport.lastIndexOf(':');
  if (colon < 0) return fail('missing port in address');
  let j = 0;
  let k = 0;
  if (hostport.startsWith('[')) {
    const end = hostport.indexOf(']');
    if (end < 0) return fail("missing ']' in address");
    if (end + 1 === hostport.length) return fail('missing port in address');
    if (end + 1 !== colon) return fail(hostport[end + 1] === ':' ? 'too many colons in address' : 'missing port in address');
    j = 1;
    k = end + 1;
  } else if (hostport.slice(0, colon).includes(':')) {
    return fail('too many colons in address');
  }
  if (hostport.slice(j).includes('[')) return fail("unexpected '[' in address");
  if (hostport.slice(k).includes(']')) return fail("unexpected ']' in address");
  return undefined;
}
