/**
 * What the central verifier needs only once it verifies an image: the policy
 * set's matching (Go regexps), verifyImage with the sigstore code under it,
 * the policy engines, trust roots, KMS keys and secretRef keys. CentralVerifier (./central.ts) imports this module the
 * first time a record gets that far, so the build puts it, and the packages
 * only it uses, in chunks that a function's cold start does not load.
 */
export { policiesMatching } from '../store/policy-set.ts';
export { verifyImage } from '../verify/verify-image.ts';
export { defaultPolicyEvaluator } from '../verify/policy-engines/evaluate.ts';
export { TrustRootResolver } from '../trust/trust-roots.ts';
export { KmsKeyResolver, parseKmsReference } from '../trust/kms.ts';
export { SecretKeyStore } from '../trust/secret-keys.ts';
