/**
 * What Google accepts as the names a GCP association gives. Checked when the
 * configuration is read, so that a typo is a problem with its path, not an
 * `invalid_grant` from Google STS at the first verification.
 */

/** A workload identity pool provider, as STS token exchange takes it for `audience`. */
export const GCP_AUDIENCE_RE = /^\/\/iam\.googleapis\.com\/projects\/\d+\/locations\/global\/workloadIdentityPools\/[a-z0-9-]+\/providers\/[a-z0-9-]+$/;
/** A service account email. */
export const GCP_SERVICE_ACCOUNT_RE = /^[a-z0-9][a-z0-9._-]*@[a-z0-9][a-z0-9.-]*$/;
/** A project id: 6 to 30 lowercase letters, digits and hyphens, starting with a letter, not ending with a hyphen. */
export const GCP_PROJECT_RE = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
/** An Artifact Registry location: a region (`us-central1`) or a multi-region (`us`, `europe`, `asia`). */
export const GCP_LOCATION_RE = /^[a-z]+(?:-[a-z]+\d{1,2})?$/;
