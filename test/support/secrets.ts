/**
 * Every credential, token and ExternalId the test suite hands to sigwatch or
 * to its fakes. None may ever appear in output: the leak guard
 * (test/support/leak-guard.ts, preloaded into every test process) scans all
 * that the suite writes for them, and `assertNoSecrets` checks collected text
 * such as SNS messages. Values are made up; they are listed so that a leak of
 * any of them, in any form sigwatch could produce (plain, Basic auth base64),
 * is caught. Values of 6 characters or fewer that are ordinary words ("test",
 * "token", "wide") cannot be told from legitimate output and are left out.
 */

export interface TestSecret {
  /** Printed when the secret leaks: says whose it is, never contains the value. */
  label: string;
  value: string;
}

// Registry passwords (docker-registry htpasswd users, token servers, pull secrets).
export const ADMIN_PASSWORD = 'admin-pw';
export const CI_SECRET_PASSWORD = 'ci-secret-pw';
export const CI_PREEMPTIVE_PASSWORD = 'ci-S3cret-pw';
export const TEAM_SECRET_PASSWORD = 'team-secret-pw';
export const CI_S3CRET_PASSWORD = 'ci-s3cret';
export const BASIC_S3CRET_PASSWORD = 'basic-s3cret';
export const WRONG_S3CRET_PASSWORD = 'wrong-s3cret';
export const S3CRET_PW_PASSWORD = 's3cret-pw';
export const ALICE_PASSWORD = 'alice-pw';
export const BASIC_PASSWORD = 'basic-pw';
export const HUNTER2 = 'hunter2';
// ECR authorization tokens (the password of user AWS).
export const ECR_TOKEN_A = 'pw-111111111111';
export const ECR_TOKEN_B = 'pw-222222222222';
export const ECR_TOKEN_REFRESHED = 'after-the-fix';
export const ECR_TOKEN_NOT_IN_ERRORS = 'ecr-token-password-not-in-errors';
// AWS credentials given to SDK clients in tests.
export const AWS_EXAMPLE_ACCESS_KEY_ID = 'AKIAEXAMPLEKEYID';
export const AWS_EXAMPLE_SECRET_KEY = 'example-secret-never-printed';
export const AWS_CENTRAL_ACCESS_KEY_ID = 'AKIDCENTRALFAKE';
export const AWS_CENTRAL_SECRET_KEY = 'central-fake';
export const AWS_CENTRAL_REVERIFY_ACCESS_KEY_ID = 'AKIDCENTRAL';
export const AWS_CENTRAL_REVERIFY_SECRET_KEY = 'central-secret';
export const AWS_NOTIFY_ACCESS_KEY_ID = 'AKIDTEST';
export const AWS_NOTIFY_SECRET_KEY = 'secret-test';
export const STS_SESSION_TOKEN_PREFIX = 'token-1-arn:aws';
export const STS_MEMBER_SESSION_TOKEN = 'member-session-token';
export const GCP_SESSION_TOKEN = 'session-hunter2';
// Google tokens the fake Google APIs issue, and the AWS key that signs sigwatch's identity for them.
export const GCP_FEDERATED_TOKEN = 'gcp-federated-token-5c1e';
export const GCP_SA_TOKEN = 'gcp-sa-token-9b7d';
export const AWS_GCP_SIGNER_ACCESS_KEY_ID = 'AKIDGCPSIGNER';
export const AWS_GCP_SIGNER_SECRET_KEY = 'gcp-signer-secret-key-3f2a';
export const AWS_GCP_SIGNER_SESSION_TOKEN = 'gcp-signer-session-token-8e4b';
/** A key Google would not find behind the signature. */
export const AWS_GCP_WRONG_SECRET_KEY = 'gcp-signer-wrong-secret-key-61d0';
/** The private key of the gcr-sa service account key (invoke-sigwatch-config). */
export const GCR_SA_PRIVATE_KEY = 'gcr-sa-private-key-7d21e9';
// ExternalIds of member-account associations.
export const EXTERNAL_ID = 'local-external-id-0001';
export const EXTERNAL_ID_ROTATED = 'ext-rotated-0002';
// Bearer token of the registry fault matrix.
export const FAULT_MATRIX_BEARER_TOKEN = 'fault-matrix-bearer-token';
// Credentials in the environment of the KMS-endpoint CLI test: a refused endpoint must see none of them.
export const AWS_KMS_TEST_ACCESS_KEY_ID = 'AKIDKMSENDPOINTS';
export const AWS_KMS_TEST_SECRET_KEY = 'kms-endpoint-test-secret-key';
export const AWS_KMS_TEST_SESSION_TOKEN = 'session-token-that-must-not-leave';
// The token a hostile realm would hand out (registry-credentials): sigwatch must never ask it for one.
export const EVIL_REALM_TOKEN = 'evil-token';
// The secret the leak guard's own test prints on purpose.
export const LEAK_GUARD_CANARY = 'canary-7f3a9c-never-print';

/** [label, value, Basic-auth usernames it is used with]. */
const LIST: [string, string, string[]][] = [
  ['registry password of admin (registry-auth, pull secrets)', ADMIN_PASSWORD, ['admin']],
  ['registry password of ci (pull secrets)', CI_SECRET_PASSWORD, ['ci']],
  ['registry password of ci (preemptive-auth)', CI_PREEMPTIVE_PASSWORD, ['ci']],
  ['registry password of team (pull secrets)', TEAM_SECRET_PASSWORD, ['team']],
  ['registry password of ci (registry-auth)', CI_S3CRET_PASSWORD, ['ci']],
  ['registry password of ci (registry-safety)', BASIC_S3CRET_PASSWORD, ['ci']],
  ['wrong registry password of ci (registry-safety)', WRONG_S3CRET_PASSWORD, ['ci']],
  ['registry password of ci (verify)', S3CRET_PW_PASSWORD, ['ci']],
  ['registry password of alice (registry-auth)', ALICE_PASSWORD, ['alice']],
  ['registry password (registry-auth, Basic realm)', BASIC_PASSWORD, []],
  ['pull-secret password (registry-providers)', HUNTER2, ['u']],
  ['ECR token A', ECR_TOKEN_A, ['AWS']],
  ['ECR token B', ECR_TOKEN_B, ['AWS']],
  ['ECR token (refreshed)', ECR_TOKEN_REFRESHED, ['AWS']],
  ['ECR token (errors test)', ECR_TOKEN_NOT_IN_ERRORS, ['AWS']],
  ['AWS access key id (example)', AWS_EXAMPLE_ACCESS_KEY_ID, []],
  ['AWS secret key (example)', AWS_EXAMPLE_SECRET_KEY, []],
  ['AWS access key id (central, accounts)', AWS_CENTRAL_ACCESS_KEY_ID, []],
  ['AWS secret key (central, accounts)', AWS_CENTRAL_SECRET_KEY, []],
  ['AWS access key id (central, reverify)', AWS_CENTRAL_REVERIFY_ACCESS_KEY_ID, []],
  ['AWS secret key (central, reverify)', AWS_CENTRAL_REVERIFY_SECRET_KEY, []],
  ['AWS access key id (notify)', AWS_NOTIFY_ACCESS_KEY_ID, []],
  ['AWS secret key (notify)', AWS_NOTIFY_SECRET_KEY, []],
  ['STS session token (accounts)', STS_SESSION_TOKEN_PREFIX, []],
  ['STS session token (on-push)', STS_MEMBER_SESSION_TOKEN, []],
  ['GCP session token', GCP_SESSION_TOKEN, []],
  ['GCP federated token', GCP_FEDERATED_TOKEN, ['oauth2accesstoken']],
  ['GCP service account token', GCP_SA_TOKEN, ['oauth2accesstoken']],
  ['AWS access key id (GCP signer)', AWS_GCP_SIGNER_ACCESS_KEY_ID, []],
  ['AWS secret key (GCP signer)', AWS_GCP_SIGNER_SECRET_KEY, []],
  ['AWS session token (GCP signer)', AWS_GCP_SIGNER_SESSION_TOKEN, []],
  ['AWS secret key (GCP signer, wrong)', AWS_GCP_WRONG_SECRET_KEY, []],
  ['gcr-sa private key', GCR_SA_PRIVATE_KEY, []],
  ['ExternalId', EXTERNAL_ID, []],
  ['ExternalId (rotated)', EXTERNAL_ID_ROTATED, []],
  ['fault-matrix bearer token', FAULT_MATRIX_BEARER_TOKEN, []],
  ['hostile realm token (registry-credentials)', EVIL_REALM_TOKEN, []],
  ['AWS access key id (KMS endpoints)', AWS_KMS_TEST_ACCESS_KEY_ID, []],
  ['AWS secret key (KMS endpoints)', AWS_KMS_TEST_SECRET_KEY, []],
  ['AWS session token (KMS endpoints)', AWS_KMS_TEST_SESSION_TOKEN, []],
  ['leak-guard canary', LEAK_GUARD_CANARY, []],
];

/** Every form in which each secret could leak: the value, and `user:value` as Basic auth sends it. */
export const TEST_SECRETS: readonly TestSecret[] = LIST.flatMap(([label, value, users]) => [
  { label, value },
  ...users.map((user) => ({ label: `${label} (Basic auth of ${user})`, value: Buffer.from(`${user}:${value}`).toString('base64') })),
]);

/** The labels of the secrets found in `text`; never the values. */
export function secretsIn(text: string): string[] {
  return TEST_SECRETS.filter((s) => text.includes(s.value)).map((s) => s.label);
}

/**
 * Throws when any test secret appears in `text` (an SNS message, a log, a
 * verdict), naming the secret by label and `where` it was found.
 */
export function assertNoSecrets(text: string, where: string): void {
  const found = secretsIn(text);
  if (found.length > 0) throw new Error(`${where} contains test secret(s): ${found.join(', ')}`);
}
