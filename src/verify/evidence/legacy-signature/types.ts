/** A cosign signature read from a registry, not yet verified. */
export interface CosignSignature {
  /** Digest of the layer holding the payload: identifies the signature in verdicts. */
  digest: string;
  /** The exact signed bytes (a simple-signing JSON document). */
  payload: Buffer;
  /** Raw signature bytes, decoded from the base64 annotation. */
  signature: Buffer;
  certificatePem?: string;
  chainPem?: string;
  /** `dev.sigstore.cosign/bundle`: Rekor's signed entry timestamp and entry. */
  rekorBundle?: unknown;
  /** `dev.sigstore.cosign/rfc3161timestamp`. */
  rfc3161Timestamp?: unknown;
  /** Where it was found: `host/repo:sha256-….sig`. */
  source: string;
}

/** Signatures found for one image, and why any others were unusable. */
export interface SignatureLookup {
  signatures: CosignSignature[];
  problems: string[];
  /** Where they were looked for, for a reason that finds none: `tag sha256-….sig in host/repo`. */
  searched?: string;
}
