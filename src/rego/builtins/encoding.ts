import { createHash, createHmac } from 'node:crypto';
import { RObject, RSet, fromJSON, toJSON, type Value } from '../values.ts';
import { BuiltinError, obj, str, typeErr, type Registry } from './types.ts';

function b64decode(s: string, url: boolean): string {
  const re = url ? /^[A-Za-z0-9_-]*={0,2}$/ : /^[A-Za-z0-9+/]*={0,2}$/;
  if (!re.test(s) || (s.includes('=') && s.length % 4 !== 0) || (!url && s.length % 4 === 1)) throw new BuiltinError('illegal base64 data');
  if (!url && !s.includes('=') && s.length % 4 !== 0) throw new BuiltinError('illegal base64 data');
  return Buffer.from(s, url ? 'base64url' : 'base64').toString('utf8');
}

/** JSON text for a Rego value; OPA refuses sets and non-string keys nowhere: sets become arrays. */
export function marshal(v: Value): string {
  return JSON.stringify(toJSON(v));
}

function unmarshal(s: string): Value {
  try {
    return fromJSON(JSON.parse(s));
  } catch {
    throw new BuiltinError('invalid character in JSON input');
  }
}

function urlEncode(s: string): string {
  // Go's url.QueryEscape: space is '+', everything outside [A-Za-z0-9-_.~] is %XX.
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

function urlDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw new BuiltinError('invalid URL escape');
  }
}

function hash(alg: string) {
  return { arity: 1, fn: (a: Value[]) => createHash(alg).update(str(a, 0), 'utf8').digest('hex') };
}
function hmac(alg: string) {
  return { arity: 2, fn: (a: Value[]) => createHmac(alg, str(a, 1)).update(str(a, 0), 'utf8').digest('hex') };
}

export const encodingBuiltins: Registry = {
  'base64.encode': { arity: 1, fn: (a) => Buffer.from(str(a, 0), 'utf8').toString('base64') },
  'base64.decode': { arity: 1, fn: (a) => b64decode(str(a, 0), false) },
  'base64.is_valid': {
    arity: 1,
    fn: (a) => {
      try {
        b64decode(str(a, 0), false);
        return true;
      } catch {
        return false;
      }
    },
  },
  'base64url.encode': { arity: 1, fn: (a) => Buffer.from(str(a, 0), 'utf8').toString('base64').replace(/\+/g, '-').replace(/\//g, '_') },
  'base64url.encode_no_pad': { arity: 1, fn: (a) => Buffer.from(str(a, 0), 'utf8').toString('base64url') },
  'base64url.decode': { arity: 1, fn: (a) => b64decode(str(a, 0), true) },
  'hex.encode': { arity: 1, fn: (a) => Buffer.from(str(a, 0), 'utf8').toString('hex') },
  'hex.decode': {
    arity: 1,
    fn: (a) => {
      const s = str(a, 0);
      if (!/^([0-9a-fA-F]{2})*$/.test(s)) throw new BuiltinError('invalid byte in hex input');
      return Buffer.from(s, 'hex').toString('utf8');
    },
  },
  'json.marshal': { arity: 1, fn: (a) => marshal(a[0]!) },
  'json.marshal_with_options': {
    arity: 2,
    fn: (a) => {
      const o = obj(a, 1);
      const indent = o.get('indent');
      const prefix = o.get('prefix');
      const pretty = o.get('pretty');
      const j = toJSON(a[0]!);
      if (pretty === false || (pretty === undefined && indent === undefined && prefix === undefined)) return JSON.stringify(j);
      const text = JSON.stringify(j, null, typeof indent === 'string' ? indent : '\t');
      const p = typeof prefix === 'string' ? prefix : '';
      return text
        .split('\n')
        .map((l, i) => (i === 0 ? p + l : p + l))
        .join('\n');
    },
  },
  'json.unmarshal': { arity: 1, fn: (a) => unmarshal(str(a, 0)) },
  'json.is_valid': {
    arity: 1,
    fn: (a) => {
      if (typeof a[0] !== 'string') return false;
      try {
        JSON.parse(a[0]);
        return true;
      } catch {
        return false;
      }
    },
  },
  'urlquery.encode': { arity: 1, fn: (a) => urlEncode(str(a, 0)) },
  'urlquery.decode': { arity: 1, fn: (a) => urlDecode(str(a, 0)) },
  'urlquery.encode_object': {
    arity: 1,
    fn: (a) => {
      const o = obj(a, 0);
      const parts: string[] = [];
      for (const [k, v] of o.sortedEntries()) {
        if (typeof k !== 'string') throw typeErr(1, 'object[string: any]', o);
        const vals = typeof v === 'string' ? [v] : Array.isArray(v) ? v : v instanceof RSet ? v.sorted() : undefined;
        if (!vals) throw typeErr(1, 'object[string: one of {string, array, set}]', o);
        for (const x of vals) {
          if (typeof x !== 'string') throw typeErr(1, 'object[string: string]', o);
          parts.push(`${urlEncode(k)}=${urlEncode(x)}`);
        }
      }
      return parts.join('&');
    },
  },
  'urlquery.decode_object': {
    arity: 1,
    fn: (a) => {
      const out = new RObject();
      for (const part of str(a, 0).split(/[&]/)) {
        if (part === '') continue;
        const eq = part.indexOf('=');
        const k = urlDecode(eq < 0 ? part : part.slice(0, eq));
        const v = eq < 0 ? '' : urlDecode(part.slice(eq + 1));
        out.set(k, [...((out.get(k) as Value[] | undefined) ?? []), v]);
      }
      return out;
    },
  },
  'crypto.sha256': hash('sha256'),
  'crypto.sha1': hash('sha1'),
  'crypto.md5': hash('md5'),
  'crypto.hmac.sha256': hmac('sha256'),
  'crypto.hmac.sha1': hmac('sha1'),
  'crypto.hmac.sha512': hmac('sha512'),
  'crypto.hmac.md5': hmac('md5'),
  'crypto.hmac.equal': { arity: 2, fn: (a) => str(a, 0) === str(a, 1) },
  'io.jwt.decode': {
    arity: 1,
    fn: (a) => {
      const parts = str(a, 0).split('.');
      if (parts.length !== 3) throw new BuiltinError('encoded JWT had no period separators');
      const dec = (p: string) => {
        try {
          return fromJSON(JSON.parse(Buffer.from(p, 'base64url').toString('utf8')));
        } catch {
          throw new BuiltinError('JWT is not valid JSON');
        }
      };
      return [dec(parts[0]!), dec(parts[1]!), Buffer.from(parts[2]!, 'base64url').toString('hex')];
    },
  },
};
