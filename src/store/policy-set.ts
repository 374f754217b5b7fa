import { createHash } from 'node:crypto';
import { SigwatchError } from '../errors.ts';
import { globCoversName, globRegExp } from '../policy/glob.ts';
import { parsePolicyDocuments } from '../policy/parse.ts';
import { formatProblem, type PolicyProblem } from '../policy/problems.ts';
import type { ClusterImagePolicy, PolicySet, TrustRoot } from '../policy/types.ts';
import { parseReference } from '../registry/reference.ts';

/**
 * Policy files (from a folder, S3, a test) → the PolicySet `verify` evaluates.
 * Knows nothing of where the text came from, so every store shares it.
 */

export interface PolicyFile {
  text: string;
  /** A path or `s3://bucket/key`: names the file in problems and origins. */
  file: string;
  /** The store's version of the object (e.g. an S3 version id); a content hash when absent. */
  version?: string;
}

export interface LoadOptions {
  /** Drop invalid documents and report them, instead of refusing the whole set. */
  skipInvalid?: boolean;
}

export interface LoadedPolicySet extends PolicySet {
  problems: PolicyProblem[];
}

/**
 * Fails closed: any error throws POLICY_INVALID listing every problem, one per
 * line; with `skipInvalid` the documents in error are left out instead.
 */
export function buildPolicySet(files: PolicyFile[], opts: LoadOptions = {}): LoadedPolicySet {
  const set = collectPolicySet(files);
  if (!opts.skipInvalid && set.problems.some((p) => p.severity === 'error')) {
    throw new SigwatchError('POLICY_INVALID', set.problems.map(formatProblem).join('\n'));
  }
  return set;
}

/** Every valid document and every problem, never throwing (what `policy validate` prints). */
export function collectPolicySet(files: PolicyFile[]): LoadedPolicySet {
  const set: LoadedPolicySet = { policies: [], trustRoots: [], versions: {}, problems: [] };
  const sorted = [...files].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  for (const f of sorted) {
    const version = f.version ?? `sha256:${createHash('sha256').update(f.text).digest('hex')}`;
    set.versions[f.file] = version;
    const parsed = parsePolicyDocuments(f.text, { file: f.file, version });
    set.problems.push(...parsed.problems);
    set.policies.push(...parsed.policies);
    set.trustRoots.push(...parsed.trustRoots);
  }
  set.trustRoots = withoutDuplicates(set.trustRoots, set.problems);
  set.policies = withoutDuplicates(set.policies, set.problems).filter((p) => trustRootsResolve(p, set.trustRoots, set.problems));
  return set;
}

/**
 * Names are unique per kind in a cluster (a second `kubectl create` fails), so a
 * repeated name is an error; the first in file order is kept.
 */
function withoutDuplicates<T extends ClusterImagePolicy | TrustRoot>(docs: T[], problems: PolicyProblem[]): T[] {
  const seen = new Map<string, T>();
  return docs.filter((doc) => {
    const first = seen.get(doc.metadata.name);
    if (!first) {
      seen.set(doc.metadata.name, doc);
      return true;
    }
    problems.push({
      file: doc.origin.file,
      document: `${doc.kind}/${doc.metadata.name}`,
      path: 'metadata.name',
      message: `duplicate name: ${doc.kind} "${doc.metadata.name}" is already defined in ${first.origin.file} (document ${first.origin.index + 1})`,
      severity: 'error',
    });
    return false;
  });
}

/**
 * A policy naming a TrustRoot that is not loaded cannot be evaluated; upstream
 * would not enforce it until the TrustRoot exists. We refuse it (fail closed).
 */
function trustRootsResolve(policy: ClusterImagePolicy, trustRoots: TrustRoot[], problems: PolicyProblem[]): boolean {
  const names = new Set(trustRoots.map((t) => t.metadata.name));
  const missing: PolicyProblem[] = [];
  policy.spec.authorities.forEach((a, i) => {
    const refs: [string, string | undefined][] = [
      ['keyless.trustRootRef', a.keyless?.trustRootRef],
      ['ctlog.trustRootRef', a.ctlog?.trustRootRef],
      ['rfc3161timestamp.trustRootRef', a.rfc3161timestamp?.trustRootRef],
    ];
    for (const [field, ref] of refs) {
      if (ref === undefined || names.has(ref)) continue;
      missing.push({
        file: policy.origin.file,
        document: `ClusterImagePolicy/${policy.metadata.name}`,
        path: `spec.authorities[${i}].${field}`,
        message: `no TrustRoot named "${ref}" is loaded`,
        severity: 'error',
      });
    }
  });
  problems.push(...missing);
  return missing.length === 0;
}

export interface MatchOptions {
  /** Match the image string as written, without reading it as a reference (for `oci:` layout paths). */
  literal?: boolean;
  /**
   * Also try the image as written when it is shorter than its full name
   * (upstream `glob.Match`'s deprecated fallback): `policy match`'s answer
   * for `busybox`. Never at admission, where names are full.
   */
  asWritten?: boolean;
}

/**
 * The policies whose `spec.images` globs cover the image, as policy-controller's
 * webhook selects them: against the reference's full name (`ref.Name()`), so
 * `busybox` is seen as `index.docker.io/library/busybox:latest`. Note that in a
 * cluster the mutating webhook has already pinned a tag to its digest, so the
 * name matched there is `repo@sha256:…` (the tag dropped); pass that form for
 * the same result. Throws REFERENCE_INVALID for an image that is not a reference.
 */
export function policiesMatching(set: PolicySet, image: string, opts: MatchOptions = {}): ClusterImagePolicy[] {
  if (opts.literal) return set.policies.filter((p) => p.spec.images.some((i) => globRegExp(i.glob).test(image)));
  const name = parseReference(image).name;
  const covers = (glob: string) => globCoversName(glob, name) || (opts.asWritten === true && name !== image && globRegExp(glob).test(image));
  return set.policies.filter((p) => p.spec.images.some((i) => covers(i.glob)));
}
