import { RE2JS, RE2JSSyntaxException } from 're2js';
import { SigwatchError } from '../errors.ts';

/**
 * Regular expressions with Go's meaning. policy-controller compiles what a
 * policy writes as a regexp (`issuerRegExp`, `subjectRegExp`) with Go's
 * `regexp` package, so sigwatch does the same with re2js, a port of it: the
 * same syntax (`(?i)`, `\A`, `[[:alpha:]]`, `\pL`…), the same refusals
 * (look-around, back-references) with the same messages, the same character
 * classes (`\s` is ASCII, `.` stops only at `\n`), and matching in time linear
 * in the input whatever the pattern, so no policy can stall the verifier.
 */

/** A compiled regexp; `test` matches anywhere in the value, as Go's `MatchString`. */
export interface GoRegExp {
  test(value: string): boolean;
}

export type GoRegExpResult = { ok: true; matcher: GoRegExp } | { ok: false; message: string };

/** Go's `regexp.Compile`; on failure, the message Go's `*syntax.Error` prints. */
export function compileGoRegExp(source: string): GoRegExpResult {
  try {
    const compiled = RE2JS.compile(source);
    return { ok: true, matcher: { test: (value) => compiled.test(value) } };
  } catch (err) {
    if (!(err instanceof RE2JSSyntaxException)) throw err;
    // re2js leaves out the ": ``" Go prints when the error names no text (a trailing backslash).
    return { ok: false, message: `error parsing regexp: ${err.getDescription()}: \`${err.getPattern() ?? ''}\`` };
  }
}

/** Go's `regexp.MustCompile`, for sigwatch's own patterns: throws when the pattern is invalid. */
export function mustCompileGoRegExp(source: string): GoRegExp {
  const result = compileGoRegExp(source);
  if (!result.ok) throw new SigwatchError('POLICY_INVALID', result.message);
  return result.matcher;
}

// ---------------------------------------------------------------------------
// Anchoring, for the "unanchored" warning. A textual reading of a regexp that
// compiled: good enough to point at `https://github.com/org/.*` (which also
// matches `https://evil.example/?https://github.com/org/x`), and erring
// towards a warning on forms it does not follow (such as `(^a)$`), whose
// suggested rewrite is still correct.

/** A leading group that only sets flags, such as `(?i)` or `(?i-s)`. */
const FLAG_GROUP = /^\(\?[imsU]*(?:-[imsU]*)?\)/;
/** A flag group turning on multi-line mode, where `^` and `$` match at every line. */
const MULTI_LINE = /\(\?[isU]*m[imsU]*(?:-[imsU]*)?[):]/;

/**
 * The regexp anchored where it matters, or undefined when it already is. The
 * start matters always: unanchored, `github.com/acme/` also matches
 * `https://evil.example/?github.com/acme/`. The end matters unless the
 * regexp ends a path (`^https://github.com/acme/` is the author's prefix: every
 * workflow under it), so adding `$` there would deny every image. A start
 * that names a host without a scheme gets `https://`, since issuers and
 * workflow subjects are URLs and `^github.com/…` would match none.
 * `.*`, `\A`, `\z` count as anchors; multi-line `^`/`$` do not.
 */
export function anchoredForm(source: string): string | undefined {
  const lineAnchors = MULTI_LINE.test(source);
  if (lineAnchors) return `^(?:${source})$`;
  const alternatives = topLevelAlternatives(source);
  const ends = alternatives.map((a) => {
    const bare = stripFlagGroups(a);
    return {
      start: bare.startsWith('\\A') || bare.startsWith('.*') || bare.startsWith('^'),
      end: endsWithToken(bare, '\\z') || endsWithToken(bare, '.*') || endsWithToken(bare, '$') || endsWithToken(bare, '/') || endsWithToken(bare, '\\/'),
    };
  });
  if (ends.every((e) => e.start && e.end)) return undefined;
  if (alternatives.length > 1) {
    if (ends.every((e) => !e.end)) return `^(?:${source})$`;
    if (ends.every((e) => e.end)) return `^(?:${source})`;
    return alternatives.map((a, i) => anchorOne(a, ends[i]!)).join('|');
  }
  return anchorOne(source, ends[0]!);
}

/** A host name then a path, with no scheme: `github\.com/acme/`. */
const SCHEMELESS_HOST = /^[a-z0-9-]+(?:\\?\.[a-z0-9-]+)+(?:\/|$)/i;

function anchorOne(alternative: string, ok: { start: boolean; end: boolean }): string {
  const flags = alternative.slice(0, alternative.length - stripFlagGroups(alternative).length);
  const bare = alternative.slice(flags.length);
  let start = ok.start ? '' : '^';
  if (!ok.start && SCHEMELESS_HOST.test(bare) && !bare.includes('@')) start = '^https://';
  // `@acme\.com$`: any mailbox at that domain.
  if (!ok.start && bare.startsWith('@')) start = '^[^@]+';
  return `${start}${flags}${bare}${ok.end ? '' : '$'}`;
}

function stripFlagGroups(alternative: string): string {
  let rest = alternative;
  for (let m = FLAG_GROUP.exec(rest); m; m = FLAG_GROUP.exec(rest)) rest = rest.slice(m[0].length);
  return rest;
}

/** Whether `s` ends with `token` written as syntax, not escaped by a backslash before it. */
function endsWithToken(s: string, token: string): boolean {
  if (!s.endsWith(token)) return false;
  let backslashes = 0;
  for (let i = s.length - token.length - 1; i >= 0 && s[i] === '\\'; i--) backslashes += 1;
  return backslashes % 2 === 0;
}

/** The alternatives of the outermost `|`, skipping escapes, `\Q…\E` quotes, classes and groups. */
function topLevelAlternatives(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && s[i + 1] === 'Q') {
      const end = s.indexOf('\\E', i + 2);
      i = end < 0 ? s.length : end + 1;
    } else if (c === '\\') i += 1;
    else if (c === '[') i = classEnd(s, i) - 1;
    else if (c === '(') depth += 1;
    else if (c === ')') depth -= 1;
    else if (c === '|' && depth === 0) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts;
}

/**
 * Index just past the `]` closing the class that opens at `i` (the regexp
 * compiled, so there is one). RE2 takes a leading `]` literally, and `[:alpha:]`
 * inside a class is a named class whose `]` closes nothing.
 */
function classEnd(s: string, i: number): number {
  let j = i + 1;
  if (s[j] === '^') j += 1;
  if (s[j] === ']') j += 1;
  while (j < s.length && s[j] !== ']') {
    const named = s[j] === '[' && s[j + 1] === ':' ? s.indexOf(':]', j + 2) : -1;
    if (named >= 0) j = named + 2;
    else j += s[j] === '\\' ? 2 : 1;
  }
  return j + 1;
}
