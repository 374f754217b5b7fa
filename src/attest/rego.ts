/**
 * No Rego engine runs here. OPA's WebAssembly SDK evaluates only policies
 * compiled beforehand by `opa build`, and no maintained package evaluates Rego
 * source in Node (the npm packages for OPA are clients of an OPA server, or
 * validators that embed one fixed policy). A Rego policy is therefore refused
 * at `policy validate` and denied at verification, never passed.
 */
export const REGO_UNSUPPORTED = 'Rego policies are not supported by sigwatch (no engine evaluates Rego source in Node without `opa build`); rewrite the policy in CUE';
