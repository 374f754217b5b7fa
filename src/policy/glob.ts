import { SigwatchError } from '../errors.ts';
import { parseReference } from '../registry/reference.ts';
import { mustCompileGoRegExp, type GoRegExp } from './regexp.ts';

/**
 * ClusterImagePolicy `spec.images[].glob`, exactly as policy-controller's
 * `pkg/apis/glob` reads it. This is not a shell glob:
 * - only `a-zA-Z0-9 - _ : / * . @` may appear (no `?`, no `[...]`);
 * - `*` matches any run of characters except `/` (so `:tag` and `@sha256:…`
 *   are inside it), `**` matches anything including `/`;
 * - the whole normalised image name must match (anchored at both ends);
 * - the glob itself is NOT normalised: write `index.docker.io/library/busybox`,
 *   not `busybox`. The two exceptions upstream makes are `*` (read as
 *   `index.docker.io/library/*`) and `*\/*` (read as `index.docker.io/*\/*`).
 */

const DOCKER_HUB_OFFICIAL = 'index.docker.io/library/*';
const DOCKER_HUB_ANY = 'index.docker.io/*/*';
const GLOB_CHARS = /^[a-zA-Z0-9\-_:/*.@]+$/;

/** A compiled glob: true when it covers the image (a reference as written in a pod). */
export type ImageMatcher = (image: string) => boolean;

const compiled = new Map<string, GoRegExp>();

/**
 * The regular expression a glob stands for, compiled with Go's RE2 semantics
 * as upstream does (linear time: `*a*a*a…b` cannot stall matching) and cached,
 * since every verification matches every policy's globs. Throws SigwatchError
 * POLICY_INVALID with upstream's reason when the glob is not one.
 */
export function globRegExp(glob: string): GoRegExp {
  let re = compiled.get(glob);
  if (!re) {
    re = mustCompileGoRegExp(globSource(glob));
    // Policies are operator-written and few; the cap only guards against churn.
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(glob, re);
  }
  return re;
}

function globSource(glob: string): string {
  let g = glob;
  if (g === '*/*') g = DOCKER_HUB_ANY;
  if (g === '*') g = DOCKER_HUB_OFFICIAL;
  if (!GLOB_CHARS.test(g)) throw new SigwatchError('POLICY_INVALID', `invalid glob ${JSON.stringify(g)}`);
  // `**` first, through a placeholder that cannot occur in a valid glob.
  const source = g.replaceAll('.', '\\.').replaceAll('**', '#').replaceAll('*', '[^/]*').replaceAll('#', '.*');
  return `^${source}$`;
}

/**
 * upstream `glob.Match` as a reusable function: the image is parsed as
 * `name.ParseReference` does and its full name (`index.docker.io/library/x:latest`,
 * `host/repo@sha256:…`) is matched; when that fails and the image was written
 * in a shorter form, the form as written is tried too (upstream calls this
 * fallback deprecated; at admission it never applies, because the webhook
 * passes the already-normalised name). Throws REFERENCE_INVALID for an image
 * that is not a reference.
 */
export function compileGlob(glob: string): ImageMatcher {
  const re = globRegExp(glob);
  return (image) => {
    const name = parseReference(image).name;
    return re.test(name) || (name !== image && re.test(image));
  };
}

/** `glob.Match(glob, image)`; throws for an invalid glob or image, as upstream errors. */
export function globMatches(glob: string, image: string): boolean {
  return compileGlob(glob)(image);
}

/**
 * The Docker Hub form of a short-name glob: `privatenamespace/*` is
 * `index.docker.io/privatenamespace/*`, `busybox*` is
 * `index.docker.io/library/busybox*`, as image references are read. Upstream
 * compiles globs as written, so at admission (where the name is always the
 * full one) a short-name glob never matches; Enforce's documentation writes
 * them short, and sigwatch reads them as they are evidently meant. Undefined
 * for a glob that names a registry (a first segment with `.` or `:`, or
 * `localhost`) or starts with a wildcard.
 */
function dockerHubGlob(glob: string): string | undefined {
  const segments = glob.split('/');
  const first = segments[0]!;
  if (first === '' || first.startsWith('*')) return undefined;
  if (segments.length === 1) return `index.docker.io/library/${glob}`;
  if (first.includes('*')) return undefined;
  if (first.includes('.') || first.includes(':') || first === 'localhost') return undefined;
  return `index.docker.io/${glob}`;
}

/** Whether a glob covers a full image name (`ref.Name()`), its Docker Hub short form included. */
export function globCoversName(glob: string, name: string): boolean {
  if (globRegExp(glob).test(name)) return true;
  const hub = dockerHubGlob(glob);
  return hub !== undefined && globRegExp(hub).test(name);
}

const PROBE_DIGEST = `sha256:${'0'.repeat(64)}`;

/**
 * At admission the webhook has pinned every image to its digest, so the name
 * a glob meets is `registry/repo@sha256:…`, never a tag. For a glob that can
 * never match such a name, the glob that would (the same repositories, any
 * digest); undefined when it can. Decided by probing: each wildcard in turn
 * is filled with the rest of a digest-pinned name, and the probe must both
 * be a digest-pinned full name and match.
 */
export function globForPinnedImages(glob: string): string | undefined {
  if (globSyntaxError(glob) !== undefined) return undefined;
  // Upstream's two rewrites, then the Docker Hub reading of a short glob: probes must be full names.
  const read = glob === '*' ? DOCKER_HUB_OFFICIAL : glob === '*/*' ? DOCKER_HUB_ANY : glob;
  const forms = [read, dockerHubGlob(read)].filter((g): g is string => g !== undefined);
  for (const probe of forms.flatMap(pinnedProbes)) if (isPinnedName(probe) && globCoversName(read, probe)) return undefined;
  const lastSlash = glob.lastIndexOf('/');
  return `${glob.slice(0, lastSlash + 1)}${glob.slice(lastSlash + 1).replace(/[@:].*$/, '')}@*`;
}

function pinnedProbes(glob: string): string[] {
  const stars = [...glob.matchAll(/\*\*|\*/g)].map((m) => ({ at: m.index, length: m[0].length }));
  const fills = [`registry.example/x@${PROBE_DIGEST}`, `x@${PROBE_DIGEST}`, `@${PROBE_DIGEST}`, PROBE_DIGEST, PROBE_DIGEST.slice('sha256:'.length)];
  const probes = [glob.replaceAll('*', 'x')];
  for (const filler of ['x', 'registry.example']) {
    for (let i = 0; i < stars.length; i++) {
      for (const fill of fills) {
        let out = '';
        let last = 0;
        stars.forEach((s, j) => {
          out += glob.slice(last, s.at) + (j === i ? fill : filler);
          last = s.at + s.length;
        });
        probes.push(out + glob.slice(last));
      }
    }
  }
  return probes;
}

function isPinnedName(name: string): boolean {
  try {
    const ref = parseReference(name);
    return ref.name === name && name.includes('@sha256:');
  } catch {
    return false;
  }
}

/**
 * Why upstream's ValidateGlob rejects a glob, or undefined. It first runs Go's
 * `filepath.Match(glob, "")` (whose syntax allows `[...]`, `?` and `\`), then
 * compiles the glob as above, so a bad character class reports
 * "syntax error in pattern" while a valid class still fails as "invalid glob".
 */
export function globSyntaxError(glob: string): string | undefined {
  if (!goPathPatternIsValid(glob)) return 'syntax error in pattern';
  try {
    globRegExp(glob);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Go's `path/filepath.Match` syntax on Unix: `*`, `?`, `\x` escapes and
 * `[^a-z…]` classes whose ranges need both ends and a closing `]`.
 */
function goPathPatternIsValid(pattern: string): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      if (i + 1 >= pattern.length) return false;
      i += 1;
    } else if (c === '[') {
      const end = classEnd(pattern, i + 1);
      if (end < 0) return false;
      i = end;
    }
  }
  return true;
}

/** Index of the `]` closing a class whose body starts at `start`, or -1 when malformed. */
function classEnd(pattern: string, start: number): number {
  let i = start;
  if (pattern[i] === '^') i += 1;
  let ranges = 0;
  for (;;) {
    if (pattern[i] === ']' && ranges > 0) return i;
    const lo = classChar(pattern, i);
    if (lo < 0) return -1;
    i = lo;
    if (pattern[i] === '-') {
      const hi = classChar(pattern, i + 1);
      if (hi < 0) return -1;
      i = hi;
    }
    ranges += 1;
  }
}

/** Position after one (possibly escaped) class character at `i`, or -1 (Go's getEsc). */
function classChar(pattern: string, i: number): number {
  const c = pattern[i];
  if (c === undefined || c === '-' || c === ']') return -1;
  let next = i + 1;
  if (c === '\\') {
    if (next >= pattern.length) return -1;
    next += 1;
  }
  // Go also refuses a class character that ends the pattern.
  return next >= pattern.length ? -1 : next;
}
