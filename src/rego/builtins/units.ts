import { BuiltinError, str, type Registry } from './types.ts';

const SI: Record<string, number> = { '': 1, m: 1e-3, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
const BIN: Record<string, number> = { ki: 2 ** 10, mi: 2 ** 20, gi: 2 ** 30, ti: 2 ** 40, pi: 2 ** 50, ei: 2 ** 60 };

function split(s: string, what: string): [number, string] {
  const t = s.replace(/"/g, '');
  const m = /^([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)$/.exec(t);
  if (!m) throw new BuiltinError(`${what}: could not parse amount to a number`);
  return [Number(m[1]), m[2]!];
}

/** SemVer 2.0.0: [major, minor, patch, prerelease parts] or undefined. */
function parseSemver(s: string): { core: number[]; pre: string[] } | undefined {
  const m =
    /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/.exec(
      s,
    );
  if (!m || s.startsWith('v')) return undefined;
  return { core: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] ? m[4].split('.') : [] };
}

function comparePre(a: string[], b: string[]): number {
  if (a.length === 0 && b.length === 0) return 0;
  if (a.length === 0) return 1;
  if (b.length === 0) return -1;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return Math.sign(d);
    } else if (nx) return -1;
    else if (ny) return 1;
    else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

export const unitBuiltins: Registry = {
  'units.parse': {
    arity: 1,
    fn: (a) => {
      const [n, unit] = split(str(a, 0), 'units.parse');
      const u = unit.toLowerCase();
      if (BIN[u] !== undefined) return n * BIN[u];
      if (SI[unit] !== undefined) return n * SI[unit];
      if (SI[unit.toUpperCase()] !== undefined && unit !== 'm') return n * SI[unit.toUpperCase()]!;
      throw new BuiltinError('units.parse: unit not recognized');
    },
  },
  'units.parse_bytes': {
    arity: 1,
    fn: (a) => {
      const [n, unit] = split(str(a, 0), 'units.parse_bytes');
      const u = unit.toLowerCase().replace(/b$/, '');
      const siBytes: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15, e: 1e18 };
      const v = BIN[u] !== undefined ? n * BIN[u] : siBytes[u] !== undefined ? n * siBytes[u] : undefined;
      if (v === undefined) throw new BuiltinError('units.parse_bytes: byte unit not recognized');
      return Math.floor(v);
    },
  },
  'semver.is_valid': { arity: 1, fn: (a) => typeof a[0] === 'string' && parseSemver(a[0]) !== undefined },
  'semver.compare': {
    arity: 2,
    fn: (a) => {
      const x = parseSemver(str(a, 0));
      const y = parseSemver(str(a, 1));
      if (!x) throw new BuiltinError(`semver.compare: operand 1: string ${JSON.stringify(a[0])} is not a valid SemVer`);
      if (!y) throw new BuiltinError(`semver.compare: operand 2: string ${JSON.stringify(a[1])} is not a valid SemVer`);
      for (let i = 0; i < 3; i++) if (x.core[i] !== y.core[i]) return x.core[i]! < y.core[i]! ? -1 : 1;
      return comparePre(x.pre, y.pre);
    },
  },
};
