import { readFileSync } from 'node:fs';

/**
 * AWS's published ECR sample events (test/fixtures/events/README.md), and the
 * same events with real values: every field the sample has, where it has it,
 * and nothing else, so that a test of "the sample" is a test of the shape AWS
 * documents, with an image that exists in the test registry.
 */

type Json = Record<string, unknown>;

export type AwsSample = 'pull-through-cache' | 'replication' | 'replication-failed' | 'image-scan' | 'scan-resource-change' | 'push';

export function awsSampleText(name: AwsSample): string {
  const file = name === 'pull-through-cache' ? 'aws-docs-sample-pull-through-cache.txt' : `aws-docs-sample-${name}.json`;
  return readFileSync(new URL(`../fixtures/events/${file}`, import.meta.url), 'utf8');
}

/** The sample as an object; the pull-through sample without the comma that keeps it from being JSON. */
export function awsSample(name: AwsSample): Json {
  return JSON.parse(awsSampleText(name).replace(/,(\s*\})/g, '$1')) as Json;
}

/** Every key path of a value with the JSON type found there, sorted: what "the same shape" compares. */
export function shapeOf(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return [`${path}: array`, ...value.flatMap((v, i) => shapeOf(v, `${path}[${i}]`))];
  if (value !== null && typeof value === 'object')
    return Object.entries(value)
      .flatMap(([k, v]) => shapeOf(v, path ? `${path}.${k}` : k))
      .sort();
  return [`${path}: ${value === null ? 'null' : typeof value}`];
}

export interface SampleValues {
  id: string;
  account: string;
  region: string;
  time: string;
  repository: string;
  digest: string;
  tag: string;
}

/** The sample with these values in the fields it has (resources keep their ARN form). */
export function sampleWith(name: AwsSample, v: SampleValues): Json {
  const e = awsSample(name);
  const detail = e.detail as Json;
  Object.assign(e, { id: v.id, account: v.account, region: v.region, time: v.time });
  if (Array.isArray(e.resources) && e.resources.length > 0) e.resources = [`arn:aws:ecr:${v.region}:${v.account}:repository/${v.repository}`];
  detail['repository-name'] = v.repository;
  detail['image-digest'] = v.digest;
  if ('image-tag' in detail) detail['image-tag'] = v.tag;
  if ('ecr-repository-prefix' in detail) detail['ecr-repository-prefix'] = v.repository.split('/')[0];
  if ('source-account' in detail) detail['source-account'] = v.account;
  return e;
}
