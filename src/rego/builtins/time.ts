import type { Value } from '../values.ts';
import { BuiltinError, arr, int, num, str, typeErr, type Registry } from './types.ts';

const NS_PER_MS = 1_000_000;

/** RFC 3339 with optional fraction (to nanoseconds) and offset; returns ns since epoch. */
function parseRFC3339Ns(s: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/.exec(s);
  if (!m) throw new BuiltinError(`parsing time ${JSON.stringify(s)} as "2006-01-02T15:04:05Z07:00": cannot parse`);
  const [, y, mo, d, h, mi, se, frac, zone] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(se));
  if (Number(mo) < 1 || Number(mo) > 12 || Number(d) < 1 || Number(d) > daysIn(Number(y), Number(mo)) || Number(h) > 23 || Number(mi) > 59 || Number(se) > 59) {
    throw new BuiltinError(`parsing time ${JSON.stringify(s)}: out of range`);
  }
  let offsetMin = 0;
  if (zone && zone !== 'Z' && zone !== 'z') offsetMin = (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  const fracNs = frac ? Number(frac.slice(1).padEnd(9, '0')) : 0;
  return (ms - offsetMin * 60_000) * NS_PER_MS + fracNs;
}

function daysIn(y: number, m: number): number {
  return new Date(Date.UTC(y, m, 0)).getUTCDate();
}

const UNITS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, μs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration, in ns. */
function parseDurationNs(s: string): number {
  if (s === '0') return 0;
  const m = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(s);
  if (!m) throw new BuiltinError(`time: invalid duration ${JSON.stringify(s)}`);
  let total = 0;
  for (const part of s.replace(/^[+-]/, '').matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) total += Number(part[1]) * UNITS[part[2]!]!;
  return m[1] === '-' ? -total : total;
}

/** Go's time is int64 nanoseconds. */
const MAX_NS = 2 ** 63;

function nsArg(a: Value[], i: number): { ns: number; tz: string | undefined } {
  const v = a[i]!;
  if (typeof v === 'number') {
    if (Math.abs(v) >= MAX_NS) throw new BuiltinError('timestamp too big');
    return { ns: v, tz: undefined };
  }
  if (Array.isArray(v) && typeof v[0] === 'number') {
    if (v.length !== 2 || typeof v[1] !== 'string') throw new BuiltinError('time: array argument must have two elements, ns and a timezone');
    if (Math.abs(v[0]) >= MAX_NS) throw new BuiltinError('timestamp too big');
    return { ns: v[0], tz: v[1] };
  }
  throw typeErr(i + 1, 'one of {number, array}', v);
}

/** The wall-clock fields of an instant in a timezone (UTC, Local = UTC here, or an IANA name). */
function fields(ns: number, tz: string | undefined) {
  const ms = Math.floor(ns / NS_PER_MS);
  const zone = !tz || tz === '' || tz === 'UTC' || tz === 'Local' ? 'UTC' : tz;
  let parts: Record<string, string>;
  try {
    parts = Object.fromEntries(
      new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
        weekday: 'long',
      })
        .formatToParts(new Date(ms))
        .map((p) => [p.type, p.value]),
    );
  } catch {
    throw new BuiltinError(`unknown time zone ${tz}`);
  }
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday: parts.weekday!,
  };
}

const LAYOUTS: Record<string, string> = {
  ANSIC: 'Mon Jan _2 15:04:05 2006',
  UnixDate: 'Mon Jan _2 15:04:05 MST 2006',
  RFC822: '02 Jan 06 15:04 MST',
  RFC1123: 'Mon, 02 Jan 2006 15:04:05 MST',
  RFC3339: '2006-01-02T15:04:05Z07:00',
  RFC3339Nano: '2006-01-02T15:04:05.999999999Z07:00',
  Kitchen: '3:04PM',
  DateTime: '2006-01-02 15:04:05',
  DateOnly: '2006-01-02',
  TimeOnly: '15:04:05',
};

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

function formatGo(ns: number, tz: string | undefined, layout: string): string {
  const f = fields(ns, tz);
  const frac = ((ns % 1e9) + 1e9) % 1e9;
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return layout.replace(/2006|01|02|15|04|05|Jan|Mon|January|Monday|Z07:00|MST|\.9+|\.0+|_2|PM|06/g, (t) => {
    switch (t) {
      case '2006':
        return String(f.year);
      case '06':
        return pad(f.year % 100);
      case '01':
        return pad(f.month);
      case '02':
        return pad(f.day);
      case '_2':
        return String(f.day).padStart(2, ' ');
      case '15':
        return pad(f.hour);
      case '04':
        return pad(f.minute);
      case '05':
        return pad(f.second);
      case 'Jan':
        return MONTHS[f.month - 1]!.slice(0, 3);
      case 'January':
        return MONTHS[f.month - 1]!;
      case 'Mon':
        return f.weekday.slice(0, 3);
      case 'Monday':
        return f.weekday;
      case 'Z07:00':
        return !tz || tz === 'UTC' ? 'Z' : offsetText(ns, tz);
      case 'MST':
        return !tz || tz === 'UTC' ? 'UTC' : tz;
      case 'PM':
        return f.hour >= 12 ? 'PM' : 'AM';
      default:
        if (t.startsWith('.9')) {
          const s = String(frac)
            .padStart(9, '0')
            .slice(0, t.length - 1)
            .replace(/0+$/, '');
          return s ? `.${s}` : '';
        }
        return `.${String(frac)
          .padStart(9, '0')
          .slice(0, t.length - 1)}`;
    }
  });
}

function offsetText(ns: number, tz: string): string {
  const f = fields(ns, tz);
  const local = Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute, f.second);
  const utc = Math.floor(ns / NS_PER_MS / 1000) * 1000;
  const off = Math.round((local - utc) / 60000);
  if (off === 0) return 'Z';
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  return `${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

/** Go layouts for time.parse_ns: the common ones, by turning the layout into a pattern. */
function parseGo(layout: string, value: string): number {
  const l = LAYOUTS[layout] ?? layout;
  if (l === LAYOUTS.RFC3339 || l === LAYOUTS.RFC3339Nano) return parseRFC3339Ns(value);
  const groups: string[] = [];
  const re = l.replace(/2006|01|02|15|04|05|Jan|Z07:00|MST|\.9+|\.0+|[.*+?^${}()|[\]\\]/g, (t) => {
    const map: Record<string, string> = {
      '2006': '(\\d{4})',
      '01': '(\\d{2})',
      '02': '(\\d{2})',
      '15': '(\\d{2})',
      '04': '(\\d{2})',
      '05': '(\\d{2})',
      Jan: '([A-Z][a-z]{2})',
      'Z07:00': '(Z|[+-]\\d{2}:\\d{2})',
      MST: '([A-Z]{3,4})',
    };
    if (map[t]) {
      groups.push(t);
      return map[t];
    }
    if (t.startsWith('.9') || t.startsWith('.0')) {
      groups.push('frac');
      return '(\\.\\d+)?';
    }
    return `\\${t}`;
  });
  const m = new RegExp(`^${re}$`).exec(value);
  if (!m) throw new BuiltinError(`parsing time ${JSON.stringify(value)} as ${JSON.stringify(l)}: cannot parse`);
  const v: Record<string, string | undefined> = {};
  groups.forEach((g, i) => (v[g] = m[i + 1]));
  const month = v['01'] ? Number(v['01']) : v.Jan ? MONTHS.findIndex((x) => x.startsWith(v.Jan!)) + 1 : 1;
  let ms = Date.UTC(Number(v['2006'] ?? 0), month - 1, Number(v['02'] ?? 1), Number(v['15'] ?? 0), Number(v['04'] ?? 0), Number(v['05'] ?? 0));
  const z = v['Z07:00'];
  if (z && z !== 'Z') ms -= (z[0] === '-' ? -1 : 1) * (Number(z.slice(1, 3)) * 60 + Number(z.slice(4, 6))) * 60_000;
  const frac = v.frac ? Number(v.frac.slice(1).padEnd(9, '0').slice(0, 9)) : 0;
  return ms * NS_PER_MS + frac;
}

export const timeBuiltins: Registry = {
  'time.now_ns': {
    arity: 0,
    fn: (_a, ctx) => {
      if (ctx.now === undefined) throw new BuiltinError('time.now_ns: no clock was given to this evaluation', 'eval_builtin_error', true);
      return ctx.now * NS_PER_MS;
    },
  },
  'time.parse_rfc3339_ns': { arity: 1, fn: (a) => parseRFC3339Ns(str(a, 0)) },
  'time.parse_ns': { arity: 2, fn: (a) => parseGo(str(a, 0), str(a, 1)) },
  'time.parse_duration_ns': { arity: 1, fn: (a) => parseDurationNs(str(a, 0)) },
  'time.format': {
    arity: 1,
    fn: (a) => {
      const v = a[0]!;
      if (typeof v === 'number') return formatGo(v, undefined, LAYOUTS.RFC3339Nano!);
      const xs = arr(a, 0);
      const ns = num([xs[0] ?? null], 0);
      const tz = xs[1] === undefined ? undefined : str(xs, 1);
      const layout = xs[2] === undefined ? LAYOUTS.RFC3339Nano! : (LAYOUTS[str(xs, 2)] ?? str(xs, 2));
      return formatGo(ns, tz, layout);
    },
  },
  'time.date': {
    arity: 1,
    fn: (a) => {
      const { ns, tz } = nsArg(a, 0);
      const f = fields(ns, tz);
      return [f.year, f.month, f.day];
    },
  },
  'time.clock': {
    arity: 1,
    fn: (a) => {
      const { ns, tz } = nsArg(a, 0);
      const f = fields(ns, tz);
      return [f.hour, f.minute, f.second];
    },
  },
  'time.weekday': {
    arity: 1,
    fn: (a) => {
      const { ns, tz } = nsArg(a, 0);
      return fields(ns, tz).weekday;
    },
  },
  'time.add_date': {
    arity: 4,
    fn: (a) => {
      const ns = num(a, 0);
      const ms = Math.floor(ns / NS_PER_MS);
      const rest = ns - ms * NS_PER_MS;
      const d = new Date(ms);
      const t = Date.UTC(
        d.getUTCFullYear() + int(a, 1),
        d.getUTCMonth() + int(a, 2),
        d.getUTCDate() + int(a, 3),
        d.getUTCHours(),
        d.getUTCMinutes(),
        d.getUTCSeconds(),
        d.getUTCMilliseconds(),
      );
      return t * NS_PER_MS + rest;
    },
  },
  'time.diff': {
    arity: 2,
    fn: (a) => {
      let x = nsArg(a, 0).ns;
      let y = nsArg(a, 1).ns;
      if (x > y) [x, y] = [y, x];
      const fx = fields(x, undefined);
      const fy = fields(y, undefined);
      let year = fy.year - fx.year;
      let month = fy.month - fx.month;
      let day = fy.day - fx.day;
      let hour = fy.hour - fx.hour;
      let min = fy.minute - fx.minute;
      let sec = fy.second - fx.second;
      if (sec < 0) {
        sec += 60;
        min--;
      }
      if (min < 0) {
        min += 60;
        hour--;
      }
      if (hour < 0) {
        hour += 24;
        day--;
      }
      if (day < 0) {
        day += daysIn(fx.year, fx.month);
        month--;
      }
      if (month < 0) {
        month += 12;
        year--;
      }
      return [year, month, day, hour, min, sec];
    },
  },
};
