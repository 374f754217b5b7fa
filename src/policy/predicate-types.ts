/**
 * cosign's predicate short names (`cmd/cosign/cli/options/predicate.go`,
 * `PredicateTypeMap`), which policy-controller resolves the same way: a name
 * in this table means its URI, anything else is taken as the URI itself.
 */
export const PREDICATE_TYPES: Readonly<Record<string, string>> = {
  custom: 'https://cosign.sigstore.dev/attestation/v1',
  slsaprovenance: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance02: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance1: 'https://slsa.dev/provenance/v1',
  spdx: 'https://spdx.dev/Document',
  spdxjson: 'https://spdx.dev/Document',
  cyclonedx: 'https://cyclonedx.org/bom',
  link: 'https://in-toto.io/Link/v1',
  vuln: 'https://cosign.sigstore.dev/attestation/vuln/v1',
  openvex: 'https://openvex.dev/ns',
};

/** The predicate URI an attestation's `predicateType` asks for. */
export function predicateUri(predicateType: string): string {
  return Object.hasOwn(PREDICATE_TYPES, predicateType) ? PREDICATE_TYPES[predicateType]! : predicateType;
}
