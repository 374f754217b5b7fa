import { SigwatchError } from '../errors.ts';

/**
 * Image references parsed the way go-containerregistry's `name.ParseReference`
 * (weak validation, the mode policy-controller uses) parses them, because
 * ClusterImagePolicy globs are matched against `ref.Name()` of that parser:
 * the same string must come out here or a copied policy would match other images.
 */
export const DEFAULT_REGISTRY = 'index.docker.io';
const REGISTRY_ALIAS = 'docker.io';
const DEFAULT_TAG = 'latest';

const REPOSITORY_CHARS = /^[a-z0-9_.\-/]+$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
// Registry: host[:port] with the characters go-containerregistry allows.
const REGISTRY_RE = /^[A-Za-z0-9.\-:[\]]+$/;

export interface ImageRef {
  /** Registry host as used on the wire, `index.docker.io` for Docker Hub. */
  readonly registry: string;
  /** Repository path, `library/` added for single-name Docker Hub images. */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
  /** `registry/repository` (go-containerregistry `Repository.Name()`). */
  readonly repositoryName: string;
  /** go-containerregistry `Reference.Name()`: `repo:tag` or `repo@digest`. */
  readonly name: string;
}

export function parseReference(input: string): ImageRef {
  if (typeof input !== 'string' || input.length === 0) {
    throw new SigwatchError('REFERENCE_INVALID', 'image reference is empty');
  }
  const at = input.indexOf('@');
  if (at >= 0) {
    const digest = input.slice(at + 1);
    if (!DIGEST_RE.test(digest)) {
      throw new SigwatchError('REFERENCE_INVALID', `image reference "${input}": digest must be sha256:<64 hex>`);
    }
    // A tag before the digest is accepted and dropped, as go-containerregistry does.
    const base = splitTag(input.slice(0, at)).base;
    const repo = parseRepository(base, input);
    return { ...repo, digest, name: `${repo.repositoryName}@${digest}` };
  }
  const { base, tag } = splitTag(input);
  if (tag !== undefined && !TAG_RE.test(tag)) {
    throw new SigwatchError('REFERENCE_INVALID', `image reference "${input}": invalid tag "${tag}"`);
  }
  const repo = parseRepository(base, input);
  const t = tag ?? DEFAULT_TAG;
  return { ...repo, tag: t, name: `${repo.repositoryName}:${t}` };
}

function splitTag(name: string): { base: string; tag?: string } {
  const i = name.lastIndexOf(':');
  // A colon before the last slash is a registry port, not a tag.
  if (i < 0 || name.slice(i + 1).includes('/')) return { base: name };
  return { base: name.slice(0, i), tag: name.slice(i + 1) };
}

function parseRepository(name: string, input: string): Omit<ImageRef, 'name'> {
  if (name.length === 0) {
    throw new SigwatchError('REFERENCE_INVALID', `image reference "${input}": a repository name must be specified`);
  }
  let registry = '';
  let repository = name;
  const slash = name.indexOf('/');
  if (slash >= 0) {
    const first = name.slice(0, slash);
    // Only a first part with '.' or ':' names a registry; `localhost/x` is Docker Hub's.
    if (first.includes('.') || first.includes(':')) {
      registry = first;
      repository = name.slice(slash + 1);
    }
  }
  if (registry !== '' && !REGISTRY_RE.test(registry)) {
    throw new SigwatchError('REFERENCE_INVALID', `image reference "${input}": invalid registry "${registry}"`);
  }
  if (!REPOSITORY_CHARS.test(repository) || repository.length > 255) {
    throw new SigwatchError(
      'REFERENCE_INVALID',
      `image reference "${input}": repository "${repository}" must be lowercase letters, digits and . _ - /`,
    );
  }
  if (registry === '' || registry === REGISTRY_ALIAS) registry = DEFAULT_REGISTRY;
  if (registry === DEFAULT_REGISTRY && !repository.includes('/')) repository = `library/${repository}`;
  return { registry, repository, repositoryName: `${registry}/${repository}` };
}

/** The same repository with another tag or digest. */
export function withTag(ref: ImageRef, tag: string): ImageRef {
  return { registry: ref.registry, repository: ref.repository, repositoryName: ref.repositoryName, tag, name: `${ref.repositoryName}:${tag}` };
}

export function withDigest(ref: ImageRef, digest: string): ImageRef {
  return {
    registry: ref.registry,
    repository: ref.repository,
    repositoryName: ref.repositoryName,
    digest,
    name: `${ref.repositoryName}@${digest}`,
  };
}

export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}
