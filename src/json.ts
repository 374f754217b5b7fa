/** A JSON object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * How many objects and arrays a JSON text opens, counted up to `limit` (then
 * `limit + 1`), strings skipped. Linear and allocation-free: run before
 * `JSON.parse` so that a few megabytes of `[{},{},…]` are refused before
 * they become millions of live objects.
 */
export function containerCount(text: string, limit: number): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string: to the next quote not escaped.
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if ((c === 0x7b || c === 0x5b) && ++count > limit) return count;
  }
  return count;
}

/** A key that occurs twice in one JSON object, and where (`critical.image`, `subject[0].digest`; `` for the top level). */
export interface DuplicateKey {
  key: string;
  path: string;
}

type Frame = { kind: 'object'; keys: Set<string>; key?: string; expectKey: boolean } | { kind: 'array'; index: number };

/**
 * The first key that occurs twice in one object of a JSON text that
 * `JSON.parse` has accepted (it silently keeps the last, as Go's
 * encoding/json does, while protojson refuses the document). Keys are
 * compared as decoded strings (`"a\u0062"` is `"ab"`; a lone surrogate is U+FFFD,
 * as Go decodes it). One pass, no recursion:
 * linear in the text whatever its nesting, as the parse before it.
 */
export function duplicateKey(text: string): DuplicateKey | undefined {
  const stack: Frame[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      const end = stringEnd(text, i);
      const top = stack[stack.length - 1];
      if (top?.kind === 'object' && top.expectKey) {
        const raw = text.slice(i + 1, end);
        // An escaped lone surrogate decodes to U+FFFD in Go and protojson: "\ud800" and "\udc00" are one key there.
        const key = raw.includes('\\') ? (JSON.parse(text.slice(i, end + 1)) as string).replace(/\p{Cs}/gu, '\ufffd') : raw;
        if (top.keys.has(key)) return { key, path: pathOf(stack.slice(0, -1)) };
        top.keys.add(key);
        top.key = key;
        top.expectKey = false;
      }
      i = end + 1;
      continue;
    }
    if (c === '{') stack.push({ kind: 'object', keys: new Set(), expectKey: true });
    else if (c === '[') stack.push({ kind: 'array', index: 0 });
    else if (c === '}' || c === ']') stack.pop();
    else if (c === ',') {
      const top = stack[stack.length - 1];
      if (top?.kind === 'object') top.expectKey = true;
      else if (top?.kind === 'array') top.index++;
    }
    i++;
  }
  return undefined;
}

/** Index of the quote closing the string that opens at `start` (the text is valid JSON). */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
  return i;
}

function pathOf(frames: Frame[]): string {
  let out = '';
  for (const f of frames) {
    if (f.kind === 'array') out += `[${f.index}]`;
    else out += /^[A-Za-z_$][\w$-]*$/.test(f.key ?? '') ? `${out === '' ? '' : '.'}${f.key}` : `[${JSON.stringify(f.key)}]`;
  }
  return out;
}

/**
 * Whether Go's encoding/json would read `key` as the struct field `field`
 * (an ASCII name): it matches names case-insensitively under Unicode simple
 * folding, where besides ASCII case only the Kelvin sign (U+212A) folds to `k`
 * and the long s (U+017F) to `s`.
 */
export function goFieldMatches(key: string, field: string): boolean {
  const runes = [...key];
  if (runes.length !== field.length) return false;
  return runes.every((r, i) => {
    const f = field[i]!.toLowerCase();
    const folded = r === '\u212a' ? 'k' : r === '\u017f' ? 's' : r.length === 1 && r < '\u0080' ? r.toLowerCase() : r;
    return folded === f;
  });
}
