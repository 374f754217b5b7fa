import { RegoError, type Location } from './errors.ts';

export type TokenKind = 'ident' | 'string' | 'rawstring' | 'number' | 'op' | 'eof';

export interface Token {
  kind: TokenKind;
  /** The identifier, operator, number's text, or the string's decoded value. */
  text: string;
  loc: Location;
  /** Whitespace (or a comment) came before this token. */
  ws: boolean;
  /** A line break came before this token. */
  nl: boolean;
}

const OPERATORS = [':=', '==', '!=', '<=', '>=', '=', '<', '>', '+', '-', '*', '/', '%', '&', '|', '[', ']', '{', '}', '(', ')', ',', ';', ':', '.'];

/** Splits Rego source into tokens, each with its line and column (1-based). */
export function tokenize(src: string, file = 'policy.rego'): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let col = 1;
  let ws = false;
  let nl = false;
  const advance = (n: number) => {
    for (let k = 0; k < n; k++) {
      if (src[i] === '\n') {
        line++;
        col = 1;
      } else col++;
      i++;
    }
  };
  const fail = (msg: string): never => {
    throw new RegoError('rego_parse_error', msg, { file, line, col });
  };
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\n') {
      nl = true;
      ws = true;
      advance(1);
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      ws = true;
      advance(1);
      continue;
    }
    if (c === '#') {
      while (i < src.length && src[i] !== '\n') advance(1);
      ws = true;
      continue;
    }
    const loc = { file, line, col };
    const push = (kind: TokenKind, text: string, len: number) => {
      tokens.push({ kind, text, loc, ws, nl });
      advance(len);
      ws = false;
      nl = false;
    };
    if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < src.length && /[A-Za-z0-9_]/.test(src[j]!)) j++;
      push('ident', src.slice(i, j), j - i);
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^(?:0|[1-9][0-9]*)?(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(src.slice(i))!;
      let text = m[0];
      if (text === '') text = c;
      if (/^[0-9]/.test(text) && /[A-Za-z_0-9]/.test(src[i + text.length] ?? '')) fail(`illegal number format`);
      push('number', text, text.length);
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      let out = '';
      for (;;) {
        if (j >= src.length || src[j] === '\n') fail('non-terminated string');
        const d = src[j]!;
        if (d === '"') break;
        if (d === '\\') {
          const e = src[j + 1];
          const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
          if (e !== undefined && simple[e] !== undefined) {
            out += simple[e];
            j += 2;
            continue;
          }
          if (e === 'u') {
            const hex = src.slice(j + 2, j + 6);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('illegal unicode escape in string');
            out += String.fromCharCode(parseInt(hex, 16));
            j += 6;
            continue;
          }
          fail(`illegal escape sequence in string: \\${e ?? ''}`);
        }
        out += d;
        j++;
      }
      push('string', out, j + 1 - i);
      continue;
    }
    if (c === '`') {
      const end = src.indexOf('`', i + 1);
      if (end < 0) fail('non-terminated raw string');
      push('rawstring', src.slice(i + 1, end), end + 1 - i);
      continue;
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i));
    if (!op) fail(`illegal token ${JSON.stringify(c)}`);
    push('op', op!, op!.length);
  }
  tokens.push({ kind: 'eof', text: '', loc: { file, line, col }, ws, nl: true });
  return tokens;
}
