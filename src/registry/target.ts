import { SigwatchError } from '../errors.ts';
import { OciLayout } from './layout.ts';
import { isDigest, parseFetchableReference, type ImageRef } from './reference.ts';
import type { Repository } from './types.ts';

/** An image to verify: in a registry, or in an OCI image layout folder. */
export type ImageTarget =
  | { kind: 'registry'; input: string; ref: ImageRef }
  /** `as`: the registry reference the layout's image stands for, when policies should see one. */
  | { kind: 'layout'; input: string; path: string; reference: string; as?: ImageRef };

const LAYOUT_PREFIX = 'oci:';

/**
 * `oci:PATH:TAG`, `oci:PATH@sha256:HEX`, or a registry reference, which must
 * be a distribution reference as well as a go-containerregistry one (see
 * parseFetchableReference): the name policies are matched against is then the
 * repository fetched. So is `--as`, the name a layout's image stands for.
 */
export function parseImageTarget(input: string, opts: { as?: string } = {}): ImageTarget {
  if (!input.startsWith(LAYOUT_PREFIX)) return { kind: 'registry', input, ref: parseFetchableReference(input) };
  const target = parseLayoutTarget(input);
  return opts.as === undefined ? target : { ...target, as: parseFetchableReference(opts.as) };
}

function parseLayoutTarget(input: string): ImageTarget & { kind: 'layout' } {
  const rest = input.slice(LAYOUT_PREFIX.length);
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const digest = rest.slice(at + 1);
    if (!isDigest(digest)) throw new SigwatchError('REFERENCE_INVALID', `"${input}": digest must be sha256:<64 hex>`);
    return layoutTarget(input, rest.slice(0, at), digest);
  }
  const colon = rest.lastIndexOf(':');
  // A colon inside the path (before a slash) is not a tag separator.
  if (colon < 0 || rest.slice(colon + 1).includes('/')) return layoutTarget(input, rest, 'latest');
  return layoutTarget(input, rest.slice(0, colon), rest.slice(colon + 1));
}

function layoutTarget(input: string, path: string, reference: string): ImageTarget & { kind: 'layout' } {
  if (path === '') throw new SigwatchError('REFERENCE_INVALID', `"${input}": the layout path is empty`);
  if (reference === '') throw new SigwatchError('REFERENCE_INVALID', `"${input}": the tag is empty`);
  return { kind: 'layout', input, path, reference };
}

/** The repository holding the target and the tag or digest naming it there. */
export function openTarget(target: ImageTarget, registry: (ref: ImageRef) => Repository): { repository: Repository; reference: string } {
  if (target.kind === 'layout') return { repository: new OciLayout(target.path), reference: target.reference };
  return { repository: registry(target.ref), reference: target.ref.digest ?? target.ref.tag ?? 'latest' };
}

/**
 * The name policy globs are matched against, as the admission webhook sees it:
 * policy-controller only validates digest references (a tag can move) and
 * matches `ref.Name()`, which for `repo:tag@sha256:…` is `repo@sha256:…`. So
 * a glob naming a tag never matches, here as in a cluster. A layout without
 * `--as` has no registry name: its input is matched as written.
 */
export function policyMatchName(target: ImageTarget, digest: string): { name: string; literal: boolean } {
  const ref = target.kind === 'registry' ? target.ref : target.as;
  if (!ref) return { name: target.input, literal: true };
  return { name: `${ref.repositoryName}@${digest}`, literal: false };
}
