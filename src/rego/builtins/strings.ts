import { RE2JS } from 're2js';
import { RObject, formatValue, typeName, type Value } from '../values.ts';
import { BuiltinError, arr, int, num, str, strings, typeErr, type BuiltinContext, type Registry } from './types.ts';

function runes(s: string): string[] {
  return [...s];
}

/** Go's fmt verbs, as OPA's sprintf hands values to them. */
export function sprintf(format: string, args: Value[]): string {
  let ai = 0;
  return (
    format.replace(/%([-+# 0]*)(\d+|\*)?(?:\.(\d+))?([a-zA-Z%])/g, (m, flags: string, width: string | undefined, prec: string | undefined, verb: string) => {
      if (verb === '%') return '%';
      if (ai >= args.length) return `%!${verb}(MISSING)`;
      const v = args[ai++]!;
      let out: string;
      switch (verb) {
        case 'v':
          out = typeof v === 'string' ? v : formatValue(v);
          break;
        case 's':
          out = typeof v === 'string' ? v : formatValue(v);
          break;
        case 'q':
          out = typeof v === 'string' ? JSON.stringify(v) : `%!q(${formatValue(v)})`;
          break;
        case 'd':
          out =
            typeof v === 'number' && Number.isInteger(v) ? String(v) : `%!d(${typeof v === 'number' ? 'big.Float=' + v : typeName(v) + '=' + formatValue(v)})`;
          break;
        case 'f':
        case 'F':
          out = typeof v === 'number' ? v.toFixed(prec !== undefined ? Number(prec) : 6) : `%!f(${formatValue(v)})`;
          break;
        case 'e':
          out = typeof v === 'number' ? v.toExponential(prec !== undefined ? Number(prec) : 6).replace(/e([+-])(\d)$/, 'e$10$2') : `%!e(${formatValue(v)})`;
          break;
        case 'g':
          out = typeof v === 'number' ? String(v) : `%!g(${formatValue(v)})`;
          break;
        case 'x':
        case 'X': {
          if (typeof v === 'number' && Number.isInteger(v)) out = v.toString(16);
          else if (typeof v === 'string') out = Buffer.from(v, 'utf8').toString('hex');
          else out = `%!${verb}(${formatValue(v)})`;
          if (verb === 'X') out = out.toUpperCase();
          break;
        }
        case 'o':
          out = typeof v === 'number' && Number.isInteger(v) ? v.toString(8) : `%!o(${formatValue(v)})`;
          break;
        case 'b':
          out = typeof v === 'number' && Number.isInteger(v) ? v.toString(2) : `%!b(${formatValue(v)})`;
          break;
        case 't':
          out = typeof v === 'boolean' ? String(v) : `%!t(${formatValue(v)})`;
          break;
        default:
          return m;
      }
      if (flags.includes('+') && typeof v === 'number' && v >= 0 && 'dfeg'.includes(verb)) out = `+${out}`;
      const w = width === undefined || width === '*' ? 0 : Number(width);
      if (out.length < w) out = flags.includes('-') ? out.padEnd(w) : flags.includes('0') && typeof v === 'number' ? out.padStart(w, '0') : out.padStart(w);
      return out;
    }) +
    (ai < args.length
      ? `%!(EXTRA ${args
          .slice(ai)
          .map((v) => `${goType(v)}=${typeof v === 'string' ? v : formatValue(v)}`)
          .join(', ')})`
      : '')
  );
}

function goType(v: Value): string {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return 'json.Number';
  if (typeof v === 'boolean') return 'bool';
  return typeName(v);
}

function compile(pattern: string, ctx: BuiltinContext): RE2JS {
  const key = `re:${pattern}`;
  let re = ctx.cache.get(key) as RE2JS | undefined;
  if (!re) {
    try {
      re = RE2JS.compile(pattern);
    } catch (err) {
      throw new BuiltinError(`error parsing regexp: ${(err as Error).message}`);
    }
    if (ctx.cache.size < 1000) ctx.cache.set(key, re);
  }
  return re;
}

function findAll(re: RE2JS, s: string, n: number): { start: number; end: number; groups: (string | null)[] }[] {
  const m = re.matcher(s);
  const out: { start: number; end: number; groups: (string | null)[] }[] = [];
  while ((n < 0 || out.length < n) && m.find()) {
    const groups: (string | null)[] = [];
    for (let g = 0; g <= m.groupCount(); g++) groups.push(m.group(g));
    out.push({ start: m.start(), end: m.end(), groups });
  }
  return out;
}

export const stringBuiltins: Registry = {
  concat: { arity: 2, fn: (a) => strings(a, 1).join(str(a, 0)) },
  contains: { arity: 2, fn: (a) => str(a, 0).includes(str(a, 1)) },
  startswith: { arity: 2, fn: (a) => str(a, 0).startsWith(str(a, 1)) },
  endswith: { arity: 2, fn: (a) => str(a, 0).endsWith(str(a, 1)) },
  lower: { arity: 1, fn: (a) => str(a, 0).toLowerCase() },
  upper: { arity: 1, fn: (a) => str(a, 0).toUpperCase() },
  indexof: {
    arity: 2,
    fn: (a) => {
      const s = str(a, 0);
      const i = s.indexOf(str(a, 1));
      return i < 0 ? -1 : runes(s.slice(0, i)).length;
    },
  },
  indexof_n: {
    arity: 2,
    fn: (a) => {
      const s = str(a, 0);
      const sub = str(a, 1);
      const out: number[] = [];
      if (sub === '') return out;
      for (let i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + 1)) out.push(runes(s.slice(0, i)).length);
      return out;
    },
  },
  replace: { arity: 3, fn: (a) => str(a, 0).split(str(a, 1)).join(str(a, 2)) },
  'strings.replace_n': {
    arity: 2,
    fn: (a) => {
      const o = a[0]!;
      if (!(o instanceof RObject)) throw typeErr(1, 'object', o);
      let s = str(a, 1);
      const pairs = o.sortedEntries();
      for (const [k] of pairs) if (typeof k !== 'string') throw typeErr(1, 'object[string: string]', o);
      // Go's strings.NewReplacer: one pass, earliest match, first pattern wins at a position.
      let out = '';
      let i = 0;
      while (i < s.length) {
        let hit: [string, string] | undefined;
        for (const [k, v] of pairs) {
          if ((k as string) !== '' && s.startsWith(k as string, i)) {
            if (typeof v !== 'string') throw typeErr(1, 'object[string: string]', o);
            hit = [k as string, v];
            break;
          }
        }
        if (hit) {
          out += hit[1];
          i += hit[0].length;
        } else out += s[i++];
      }
      s = out;
      return s;
    },
  },
  'strings.reverse': { arity: 1, fn: (a) => runes(str(a, 0)).reverse().join('') },
  'strings.count': {
    arity: 2,
    fn: (a) => {
      const s = str(a, 0);
      const sub = str(a, 1);
      if (sub === '') return runes(s).length + 1;
      return s.split(sub).length - 1;
    },
  },
  'strings.any_prefix_match': {
    arity: 2,
    fn: (a) => {
      const ss = typeof a[0] === 'string' ? [a[0]] : strings(a, 0, 'one of {string, set, array}');
      const ps = typeof a[1] === 'string' ? [a[1]] : strings(a, 1, 'one of {string, set, array}');
      return ss.some((s) => ps.some((p) => s.startsWith(p)));
    },
  },
  'strings.any_suffix_match': {
    arity: 2,
    fn: (a) => {
      const ss = typeof a[0] === 'string' ? [a[0]] : strings(a, 0, 'one of {string, set, array}');
      const ps = typeof a[1] === 'string' ? [a[1]] : strings(a, 1, 'one of {string, set, array}');
      return ss.some((s) => ps.some((p) => s.endsWith(p)));
    },
  },
  split: { arity: 2, fn: (a) => (str(a, 1) === '' ? runes(str(a, 0)) : str(a, 0).split(str(a, 1))) },
  substring: {
    arity: 3,
    fn: (a) => {
      const r = runes(str(a, 0));
      const start = int(a, 1);
      const len = int(a, 2);
      if (start < 0) throw new BuiltinError('negative offset');
      if (start >= r.length) return '';
      return (len < 0 ? r.slice(start) : r.slice(start, start + len)).join('');
    },
  },
  trim: { arity: 2, fn: (a) => trimChars(str(a, 0), str(a, 1), true, true) },
  trim_left: { arity: 2, fn: (a) => trimChars(str(a, 0), str(a, 1), true, false) },
  trim_right: { arity: 2, fn: (a) => trimChars(str(a, 0), str(a, 1), false, true) },
  trim_prefix: { arity: 2, fn: (a) => (str(a, 0).startsWith(str(a, 1)) ? str(a, 0).slice(str(a, 1).length) : str(a, 0)) },
  trim_suffix: {
    arity: 2,
    fn: (a) => {
      const s = str(a, 0);
      const x = str(a, 1);
      return x !== '' && s.endsWith(x) ? s.slice(0, s.length - x.length) : s;
    },
  },
  trim_space: { arity: 1, fn: (a) => str(a, 0).replace(/^[\s\u0085\u00a0]+|[\s\u0085\u00a0]+$/gu, '') },
  sprintf: { arity: 2, fn: (a) => sprintf(str(a, 0), arr(a, 1)) },
  format_int: {
    arity: 2,
    fn: (a) => {
      const n = num(a, 0);
      const base = int(a, 1);
      if (![2, 8, 10, 16].includes(base)) throw new BuiltinError('operand 2 must be one of {2, 8, 10, 16}');
      const t = Math.trunc(n);
      return t.toString(base);
    },
  },
  'strings.render_template': { arity: 2, fn: () => undefined },
  'regex.match': { arity: 2, fn: (a, c) => compile(str(a, 0), c).matcher(str(a, 1)).find() },
  re_match: { arity: 2, fn: (a, c) => compile(str(a, 0), c).matcher(str(a, 1)).find() },
  'regex.is_valid': {
    arity: 1,
    fn: (a) => {
      if (typeof a[0] !== 'string') return false;
      try {
        RE2JS.compile(a[0]);
        return true;
      } catch {
        return false;
      }
    },
  },
  'regex.split': {
    arity: 2,
    fn: (a, c) => {
      const s = str(a, 1);
      const ms = findAll(compile(str(a, 0), c), s, -1);
      const out: string[] = [];
      let last = 0;
      for (const m of ms) {
        if (m.end === 0 && m.start === 0 && s.length > 0) continue;
        out.push(s.slice(last, m.start));
        last = m.end;
      }
      out.push(s.slice(last));
      return out;
    },
  },
  'regex.find_n': {
    arity: 3,
    fn: (a, c) => findAll(compile(str(a, 0), c), str(a, 1), int(a, 2)).map((m) => m.groups[0]!),
  },
  'regex.find_all_string_submatch_n': {
    arity: 3,
    fn: (a, c) => findAll(compile(str(a, 0), c), str(a, 1), int(a, 2)).map((m) => m.groups.map((g) => g ?? '')),
  },
  'regex.replace': {
    arity: 3,
    fn: (a, c) => {
      const re = compile(str(a, 1), c);
      // Go's ReplaceAllString: $1 / ${name} expand; re2js uses the same $ syntax.
      return re.matcher(str(a, 0)).replaceAll(str(a, 2).replace(/\$\{(\d+)\}/g, '$$$1'));
    },
  },
  'glob.quote_meta': { arity: 1, fn: (a) => str(a, 0).replace(/[*?\\[\]{}]/g, (m) => `\\${m}`) },
  'glob.match': {
    arity: 3,
    fn: (a, c) => {
      const pattern = str(a, 0);
      const d = a[1]!;
      let delims: string[];
      if (d === null) delims = ['.'];
      else {
        if (!Array.isArray(d)) throw typeErr(2, 'array', d);
        delims = strings(a, 1);
        if (delims.length === 0) delims = ['.'];
      }
      const key = `glob:${pattern}\u0000${delims.join('\u0000')}`;
      let re = c.cache.get(key) as RE2JS | undefined;
      if (!re) {
        re = globToRegExp(pattern, delims);
        if (c.cache.size < 1000) c.cache.set(key, re);
      }
      return re.matcher(str(a, 2)).matches();
    },
  },
};

function trimChars(s: string, cut: string, left: boolean, right: boolean): string {
  const set = new Set(runes(cut));
  const r = runes(s);
  let i = 0;
  let j = r.length;
  if (left) while (i < j && set.has(r[i]!)) i++;
  if (right) while (j > i && set.has(r[j - 1]!)) j--;
  return r.slice(i, j).join('');
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/**
 * gobwas/glob, as OPA's glob.match uses it: `*` within a segment, `**` across, `?`, `[…]`, `{a,b}`.
 * Compiled for RE2 (linear time), so `*a*a*a*…` cannot make a policy backtrack for minutes.
 */
function globToRegExp(pattern: string, delims: string[]): RE2JS {
  const notDelim = delims.length ? `[^${delims.map(escapeRe).join('')}]` : '.';
  let i = 0;
  const parse = (stopAtComma: boolean): string => {
    let out = '';
    while (i < pattern.length) {
      const c = pattern[i]!;
      if (stopAtComma && (c === ',' || c === '}')) return out;
      i++;
      if (c === '\\') {
        const n = pattern[i++];
        if (n === undefined) throw new BuiltinError('unexpected end of input');
        out += escapeRe(n);
      } else if (c === '*') {
        if (pattern[i] === '*') {
          i++;
          out += '.*';
        } else out += `${notDelim}*`;
      } else if (c === '?') out += notDelim;
      else if (c === '[') {
        let neg = false;
        if (pattern[i] === '!' || pattern[i] === '^') {
          neg = true;
          i++;
        }
        let cls = '';
        while (i < pattern.length && pattern[i] !== ']') {
          const ch = pattern[i++]!;
          if (ch === '-' && cls !== '' && pattern[i] !== ']') cls += '-';
          else cls += escapeRe(ch);
        }
        if (pattern[i] !== ']') throw new BuiltinError('unexpected end of input');
        i++;
        out += neg ? `[^${cls}${delims.map(escapeRe).join('')}]` : `[${cls}]`;
      } else if (c === '{') {
        const alts: string[] = [];
        for (;;) {
          alts.push(parse(true));
          const d = pattern[i++];
          if (d === '}') break;
          if (d !== ',') throw new BuiltinError('unexpected end of input');
        }
        out += `(?:${alts.join('|')})`;
      } else out += escapeRe(c);
    }
    if (stopAtComma) throw new BuiltinError('unexpected end of input');
    return out;
  };
  return RE2JS.compile(`(?s)^${parse(false)}$`);
}
