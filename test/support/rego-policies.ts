/**
 * Rego policies shaped as policy-controller's docs and e2e tests write them
 * (v0 syntax, `package sigstore`, `isCompliant` as a boolean or as a set of
 * {result, error, warning} objects). Used by the attestation tests and by
 * bench/rego.ts.
 */

export const SLSA_POLICY = `package sigstore
import future.keywords.in

default isCompliant = false

isCompliant {
  input.predicateType == "https://slsa.dev/provenance/v0.2"
  startswith(input.predicate.builder.id, "https://github.com/actions/")
  some m in input.predicate.materials
  startswith(m.uri, "git+https://github.com/acme/")
}
`;

// As in Chainguard's "limit high or critical CVEs" example for policy-controller.
export const VULN_POLICY = `package sigstore

isCompliant[response] {
  input.predicateType == "https://cosign.sigstore.dev/attestation/vuln/v1"
  vulns := [v | v := input.predicate.scanner.result.Results[_].Vulnerabilities[_]]
  high := [v | v := vulns[_]; v.Severity == "HIGH"]
  critical := [v | v := vulns[_]; v.Severity == "CRITICAL"]
  result := (count(high) + count(critical)) == 0
  errorMsg := sprintf("Found HIGH: %d, CRITICAL: %d", [count(high), count(critical)])
  response := {"result": result, "error": errorMsg, "warning": ""}
}
`;

// What policy-controller's e2e test for keyless Rego attestations checks (a custom
// predicate carrying fixed data), restated in our own words.
export const CUSTOM_POLICY = `package sigstore

default isCompliant = false

is_custom {
  input.predicateType == "https://cosign.sigstore.dev/attestation/v1"
}

isCompliant {
  is_custom
  input.predicate.Data == "foobar e2e test"
}
`;

// A scan older than 30 days (by the verifier's clock) is not accepted.
export const FRESH_SCAN_POLICY = `package sigstore
nanosecs_per_day := 24 * 60 * 60 * 1000 * 1000 * 1000
isCompliant[response] {
  finished := time.parse_rfc3339_ns(input.predicate.metadata.scanFinishedOn)
  age_days := (time.now_ns() - finished) / nanosecs_per_day
  response := {"result": age_days <= 30, "error": sprintf("scan is %.0f days old", [age_days])}
}
`;

export const WARNING_POLICY = `package sigstore
isCompliant[response] {
  response := {"result": true, "warning": "builder is not pinned"}
}
`;
