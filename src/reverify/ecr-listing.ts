import { DescribeImagesCommand, DescribeRepositoriesCommand, type ECRClient } from '@aws-sdk/client-ecr';
import { awsErrorLabel, awsFailureOf } from '../aws-errors.ts';
import { SigwatchError } from '../errors.ts';
import { backoff, retry } from '../retry.ts';

/**
 * One page at a time of a member account's ECR repositories and images,
 * through the account's assumed role. Pages are as large as ECR allows
 * (1000), so that a run costs one request per thousand repositories and
 * one per thousand images of a repository; throttling is waited out
 * with a longer, jittered back-off than the SDK's own (a run listing
 * thousands of repositories in many accounts at once can exhaust that), any
 * other failure is an error naming the account.
 */

const PAGE_SIZE = 1000;

export interface ListedImage {
  digest: string;
  tags: string[];
  pushedAt?: Date;
  lastPulledAt?: Date;
  /** The manifest's config media type: cosign and sigstore artifacts are recognised by it. */
  artifactMediaType?: string;
}

export interface Page<T> {
  items: T[];
  nextToken?: string;
}

/** How throttled listing calls are retried (tests pass a `sleep` that does not wait). */
export interface ThrottleRetry {
  /** Attempts in all (default 8). */
  attempts?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export interface ListingContext {
  account: string;
  region: string;
  retry?: ThrottleRetry;
  /** Counts each request sent (retries included), for the run's metrics. */
  onRequest?: (command: 'DescribeRepositories' | 'DescribeImages') => void;
}

export async function repositoriesPage(ecr: ECRClient, ctx: ListingContext, nextToken?: string): Promise<Page<string>> {
  const out = await call(ctx, 'DescribeRepositories', () =>
    ecr.send(new DescribeRepositoriesCommand({ registryId: ctx.account, maxResults: PAGE_SIZE, ...(nextToken ? { nextToken } : {}) })),
  );
  const items = (out.repositories ?? []).map((r) => r.repositoryName).filter((n): n is string => typeof n === 'string' && n !== '');
  return { items, ...(out.nextToken ? { nextToken: out.nextToken } : {}) };
}

export async function imagesPage(ecr: ECRClient, ctx: ListingContext, repository: string, nextToken?: string): Promise<Page<ListedImage>> {
  const out = await call(ctx, 'DescribeImages', () =>
    ecr.send(
      new DescribeImagesCommand({
        registryId: ctx.account,
        repositoryName: repository,
        maxResults: PAGE_SIZE,
        filter: { tagStatus: 'ANY' },
        ...(nextToken ? { nextToken } : {}),
      }),
    ),
  );
  const items: ListedImage[] = [];
  for (const d of out.imageDetails ?? []) {
    if (!d.imageDigest) continue;
    items.push({
      digest: d.imageDigest,
      tags: [...(d.imageTags ?? [])],
      ...(d.imagePushedAt ? { pushedAt: d.imagePushedAt } : {}),
      ...(d.lastRecordedPullTime ? { lastPulledAt: d.lastRecordedPullTime } : {}),
      ...(d.artifactMediaType ? { artifactMediaType: d.artifactMediaType } : {}),
    });
  }
  return { items, ...(out.nextToken ? { nextToken: out.nextToken } : {}) };
}

async function call<T>(ctx: ListingContext, command: 'DescribeRepositories' | 'DescribeImages', send: () => Promise<T>): Promise<T> {
  try {
    return await retry(
      () => {
        ctx.onRequest?.(command);
        return send();
      },
      {
        attempts: ctx.retry?.attempts ?? 8,
        retryAfter: (o, attempt) =>
          !o.ok && awsFailureOf(o.error) === 'throttled' ? backoff(attempt, { baseMs: 200, maxMs: 10_000, random: ctx.retry?.random }) : undefined,
        ...(ctx.retry?.sleep ? { sleep: ctx.retry.sleep } : {}),
      },
    );
  } catch (err) {
    throw new EcrListingError(ctx.account, ctx.region, `${command} failed (${awsErrorLabel(err)})`, awsFailureOf(err) === 'throttled');
  }
}

class EcrListingError extends SigwatchError {
  readonly account: string;
  readonly region: string;
  readonly throttled: boolean;
  constructor(account: string, region: string, detail: string, throttled: boolean) {
    super('REGISTRY_UNREACHABLE', `account ${account} in ${region}: ECR ${detail}`);
    this.name = 'EcrListingError';
    this.account = account;
    this.region = region;
    this.throttled = throttled;
  }
}
