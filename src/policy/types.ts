/**
 * The ClusterImagePolicy and TrustRoot resources of sigstore policy-controller
 * (`policy.sigstore.dev/v1alpha1` and `v1beta1`), field for field, so that a
 * policy copied from upstream or Chainguard Enforce docs means the same here.
 * Field names follow the YAML (including `ca-cert` and `source`).
 */

/** The digests a key authority's `hashAlgorithm` may name (policy-controller accepts these four). */
export type HashAlgorithm = 'sha224' | 'sha256' | 'sha384' | 'sha512';

/** policy-controller's `no-match-policy`: what an image no policy covers gets. */
export type NoMatchBehaviour = 'deny' | 'allow' | 'warn';

export type ApiVersion = 'policy.sigstore.dev/v1alpha1' | 'policy.sigstore.dev/v1beta1';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Where a document came from, for error messages and verdict provenance. */
export interface DocumentOrigin {
  /** File path or `s3://bucket/key`. */
  file: string;
  /** 0-based index of the `---` document in the file. */
  index: number;
  /** S3 object version or file hash, when known. */
  version?: string;
}

export interface ClusterImagePolicy {
  apiVersion: ApiVersion;
  kind: 'ClusterImagePolicy';
  metadata: ObjectMeta;
  spec: ClusterImagePolicySpec;
  origin: DocumentOrigin;
}

export interface ClusterImagePolicySpec {
  images: ImagePattern[];
  authorities: Authority[];
  policy?: PolicyCheck;
  /** `enforce` or `warn`; parsing always sets it (upstream defaults it to `enforce`). */
  mode?: 'enforce' | 'warn';
  match?: MatchResource[];
}

export interface ImagePattern {
  glob: string;
}

export interface Authority {
  /** Upstream defaults an unnamed authority to `authority-<index>`. */
  name: string;
  key?: KeyRef;
  keyless?: KeylessRef;
  static?: StaticRef;
  source?: Source[];
  ctlog?: TLog;
  attestations?: AttestationCheck[];
  rfc3161timestamp?: RFC3161Timestamp;
  signatureFormat?: string;
}

export interface SecretReference {
  /** Optional upstream too (core/v1 SecretReference); nothing checks it is set. */
  name?: string;
  namespace?: string;
}

export interface KeyRef {
  data?: string;
  kms?: string;
  secretRef?: SecretReference;
  /** sha224 | sha256 (default) | sha384 | sha512, lower-cased by parsing (upstream compares case-insensitively). */
  hashAlgorithm?: string;
}

export interface Source {
  oci?: string;
  signaturePullSecrets?: { name: string }[];
  tagPrefix?: string;
}

export interface TLog {
  url?: string;
  trustRootRef?: string;
}

export interface KeylessRef {
  /** Parsing sets `https://fulcio.sigstore.dev` when neither url nor ca-cert is given, as upstream does. */
  url?: string;
  identities: Identity[];
  'ca-cert'?: KeyRef;
  trustRootRef?: string;
  insecureIgnoreSCT?: boolean;
}

export interface Identity {
  issuer?: string;
  subject?: string;
  issuerRegExp?: string;
  subjectRegExp?: string;
}

export interface StaticRef {
  action: 'pass' | 'fail';
  message?: string;
}

export interface AttestationCheck {
  name: string;
  predicateType: string;
  policy?: PolicyCheck;
}

export interface PolicyCheck {
  type: 'cue' | 'rego';
  data?: string;
  remote?: { url: string; sha256sum: string };
  configMapRef?: { name: string; namespace?: string; key: string };
  fetchConfigFile?: boolean;
  includeSpec?: boolean;
  includeObjectMeta?: boolean;
  includeTypeMeta?: boolean;
}

export interface RFC3161Timestamp {
  trustRootRef?: string;
}

export interface MatchResource {
  group?: string;
  version?: string;
  resource?: string;
  selector?: LabelSelector;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  /** Operators are only checked when upstream matches (In, NotIn, Exists, DoesNotExist). */
  matchExpressions?: { key?: string; operator?: string; values?: string[] }[];
}

export interface TrustRoot {
  apiVersion: ApiVersion;
  kind: 'TrustRoot';
  metadata: ObjectMeta;
  spec: TrustRootSpec;
  origin: DocumentOrigin;
}

/** `root`, `mirrorFS` are base64 (Go []byte); `targets` defaults to "targets". */
export interface TrustRootSpec {
  remote?: { mirror: string; root: string; targets: string; trustedRootTarget?: string };
  repository?: { root: string; mirrorFS: string; targets: string; trustedRootTarget?: string };
  sigstoreKeys?: SigstoreKeys;
}

export interface SigstoreKeys {
  certificateAuthorities?: CertificateAuthority[];
  tLogs?: TransparencyLogInstance[];
  ctLogs?: TransparencyLogInstance[];
  timestampAuthorities?: CertificateAuthority[];
}

export interface CertificateAuthority {
  subject: { organization: string; commonName: string };
  uri: string;
  /** base64 of a PEM certificate chain */
  certChain: string;
}

export interface TransparencyLogInstance {
  baseURL: string;
  hashAlgorithm: string;
  /** base64 of a PEM public key */
  publicKey: string;
}

/** Everything loaded from one policy source: what `verify` evaluates. */
export interface PolicySet {
  policies: ClusterImagePolicy[];
  trustRoots: TrustRoot[];
  /** Object versions (S3 version ids or content hashes) the set was built from. */
  versions: Record<string, string>;
}
