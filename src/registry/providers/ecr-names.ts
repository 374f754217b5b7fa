/**
 * AWS's names around ECR, one grammar for every place that reads them:
 * events, associations, re-verification messages, verdict files and registry
 * hosts. Anchored at both ends.
 */

/** An AWS account id. */
export const ACCOUNT_ID_RE = /^\d{12}$/;

/**
 * An AWS region of the partitions whose ECR lives under amazonaws.com(.cn):
 * `eu-west-1`, `us-gov-west-1`, `cn-north-1`. The ISO partitions
 * (`us-iso-east-1`) are refused: their registries are elsewhere, and an
 * event naming one is not one sigwatch can check.
 */
export const REGION_PATTERN = '[a-z]{2}(?:-gov)?-[a-z]+-\\d{1,2}';
export const REGION_RE = new RegExp(`^${REGION_PATTERN}$`);

/**
 * An ECR repository name, as CreateRepository documents it: lowercase
 * components separated by `.`, `_` or `-`, joined by `/`; at most 256
 * characters.
 */
export const REPOSITORY_RE = /^(?=.{1,256}$)(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/** A repository prefix of an association's filter: whole components, ending in `/`. */
export const REPOSITORY_PREFIX_RE = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)+$/;

/**
 * An ECR private registry host: exactly `ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com[.cn]`,
 * no port. amazon-ecr-credential-helper's pattern is not anchored at the end,
 * and would take `….amazonaws.com.evil.example` for ECR.
 */
export const ECR_HOST_RE = new RegExp(`^(\\d{12})\\.dkr\\.ecr(-fips)?\\.(${REGION_PATTERN})\\.amazonaws\\.com(\\.cn)?$`);

/** `ACCOUNT.dkr.ecr.REGION.amazonaws.com` (`.com.cn` in China): the registry part of an ECR image name. */
export function ecrHost(account: string, region: string): string {
  return `${account}.dkr.ecr.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}
