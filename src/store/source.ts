import type { S3Client } from '@aws-sdk/client-s3';
import { SigwatchError } from '../errors.ts';
import { loadPolicyPath } from './folder.ts';
import type { LoadOptions, LoadedPolicySet } from './policy-set.ts';
import type { S3PolicyStore } from './s3.ts';

/**
 * Where policies are kept, as the CLI's `--policies` and the functions'
 * configuration name it: a local file or folder, or `s3://BUCKET/PREFIX/`.
 * The one entry point, so that every caller reads a location the same way.
 */

export type PolicyLocation = { kind: 'folder'; path: string } | { kind: 's3'; bucket: string; prefix: string };

export interface PolicySource {
  /** The policy set as it is now; an S3 source re-reads only what changed since its last load. */
  load(): Promise<LoadedPolicySet>;
}

export interface SourceOptions extends LoadOptions {
  /** Builds the client for an `s3://` location; by default the SDK's credential chain and region. */
  s3?: () => S3Client;
}

/**
 * Reads a policy location. The part after the bucket is a folder: `s3://b/policies`
 * and `s3://b/policies/` both mean the keys under `policies/` (never
 * `policies-old/…`); `s3://b` is the whole bucket. Throws CONFIG for a location
 * that cannot be right, whether it came from a flag or from an environment variable.
 */
export function parsePolicyLocation(spec: string): PolicyLocation {
  if (spec.trim() === '') throw new SigwatchError('CONFIG', 'the policy location is empty: give a file, a folder or s3://BUCKET/PREFIX/');
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(spec)?.[1];
  if (scheme === undefined) return { kind: 'folder', path: spec };
  if (scheme.toLowerCase() !== 's3') {
    throw new SigwatchError('CONFIG', `policy location ${spec}: ${scheme}:// is not supported; give a file, a folder or s3://BUCKET/PREFIX/`);
  }
  const rest = spec.slice(scheme.length + 3);
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash + 1);
  const problem = bucketNameProblem(bucket);
  if (problem) throw new SigwatchError('CONFIG', `policy location ${spec}: ${problem}`);
  return { kind: 's3', bucket, prefix: path === '' || path.endsWith('/') ? path : `${path}/` };
}

/**
 * S3's rules for bucket names (general purpose and directory buckets alike).
 * Names from before March 2018 with capitals or underscores exist only in
 * us-east-1 and cannot be reached the way the SDK addresses buckets; they are refused.
 */
function bucketNameProblem(bucket: string): string | undefined {
  if (bucket === '') return 'names no bucket (expected s3://BUCKET/PREFIX/)';
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    return `"${bucket}" is not an S3 bucket name: 3 to 63 lower-case letters, digits, dots and hyphens, beginning and ending with a letter or digit`;
  }
  if (bucket.includes('..')) return `"${bucket}" is not an S3 bucket name: two dots in a row`;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(bucket)) return `"${bucket}" is not an S3 bucket name: it has the form of an IP address`;
  return undefined;
}

/** A source for the location; parse errors are thrown here, S3 errors by `load()`. */
export function openPolicySource(spec: string, opts: SourceOptions = {}): PolicySource {
  const location = parsePolicyLocation(spec);
  const loadOptions: LoadOptions = { skipInvalid: opts.skipInvalid };
  if (location.kind === 'folder') return { load: () => loadPolicyPath(location.path, loadOptions) };

  // The AWS SDK takes a quarter of a second to import: load it only for an s3:// location,
  // not on every `sigwatch verify --policies ./folder`.
  let store: Promise<S3PolicyStore> | undefined;
  return {
    load: async () => {
      store ??= (async () => {
        const { S3PolicyStore } = await import('./s3.ts');
        const client = opts.s3 ? opts.s3() : await defaultS3Client();
        return new S3PolicyStore(client, location.bucket, location.prefix, loadOptions);
      })();
      return (await store).load();
    },
  };
}

async function defaultS3Client(): Promise<S3Client> {
  const { S3Client } = await import('@aws-sdk/client-s3');
  // The region comes from the environment, which need not be the bucket's: let the
  // SDK follow S3's redirect to the bucket's region rather than fail.
  return new S3Client({ followRegionRedirects: true });
}
