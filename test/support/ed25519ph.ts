import { createHash, type KeyObject } from 'node:crypto';

/**
 * Ed25519ph (RFC 8032 §5.1, empty context), which cosign v3 uses for Ed25519
 * keys by default (`options.WithED25519ph()` in its key loading) and Node's
 * crypto cannot produce. Test-only and not constant time: it exists to make
 * signatures shaped as cosign makes them. `ed25519Sign(…, 'pure')` must equal
 * Node's own Ed25519 signature, which the harness test checks.
 */

const P = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const D = mod(-121665n * inverse(121666n));
const SQRT_M1 = pow(2n, (P - 1n) / 4n);

type Point = [bigint, bigint, bigint, bigint];

function mod(a: bigint, m = P): bigint {
  const r = a % m;
  return r >= 0n ? r : r + m;
}
function pow(base: bigint, exp: bigint, m = P): bigint {
  let result = 1n;
  let b = mod(base, m);
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % m;
    b = (b * b) % m;
  }
  return result;
}
function inverse(a: bigint): bigint {
  return pow(a, P - 2n);
}

function add([x1, y1, z1, t1]: Point, [x2, y2, z2, t2]: Point): Point {
  const a = mod((y1 - x1) * (y2 - x2));
  const b = mod((y1 + x1) * (y2 + x2));
  const c = mod(2n * t1 * t2 * D);
  const d = mod(2n * z1 * z2);
  const e = b - a;
  const f = d - c;
  const g = d + c;
  const h = b + a;
  return [mod(e * f), mod(g * h), mod(f * g), mod(e * h)];
}
function multiply(s: bigint, point: Point): Point {
  let q: Point = [0n, 1n, 1n, 0n];
  let p = point;
  for (let k = s; k > 0n; k >>= 1n) {
    if (k & 1n) q = add(q, p);
    p = add(p, p);
  }
  return q;
}
function encode([x, y, z]: Point): Buffer {
  const zi = inverse(z);
  const ax = mod(x * zi);
  const ay = mod(y * zi);
  const out = Buffer.from(ay.toString(16).padStart(64, '0'), 'hex').reverse();
  out[31]! |= Number(ax & 1n) << 7;
  return out;
}
function base(): Point {
  const y = mod(4n * inverse(5n));
  const x2 = mod((y * y - 1n) * inverse(D * y * y + 1n));
  let x = pow(x2, (P + 3n) / 8n);
  if (mod(x * x - x2) !== 0n) x = mod(x * SQRT_M1);
  if (x & 1n) x = P - x;
  return [x, y, 1n, mod(x * y)];
}
const littleEndian = (b: Buffer) => BigInt(`0x${Buffer.from(b).reverse().toString('hex') || '0'}`);
const sha512 = (...parts: Buffer[]) => createHash('sha512').update(Buffer.concat(parts)).digest();

/** Ed25519 (`pure`) or Ed25519ph over `message` with a Node Ed25519 private key. */
export function ed25519Sign(message: Buffer, privateKey: KeyObject, variant: 'pure' | 'ph'): Buffer {
  const seed = privateKey.export({ type: 'pkcs8', format: 'der' }).subarray(-32);
  const h = sha512(seed);
  const scalar = Buffer.from(h.subarray(0, 32));
  scalar[0]! &= 248;
  scalar[31]! &= 127;
  scalar[31]! |= 64;
  const a = littleEndian(scalar);
  const B = base();
  const A = encode(multiply(a, B));
  const dom = variant === 'ph' ? Buffer.concat([Buffer.from('SigEd25519 no Ed25519 collisions'), Buffer.from([1, 0])]) : Buffer.alloc(0);
  const m = variant === 'ph' ? sha512(message) : message;
  const r = mod(littleEndian(sha512(dom, h.subarray(32), m)), L);
  const R = encode(multiply(r, B));
  const k = mod(littleEndian(sha512(dom, R, A, m)), L);
  const S = mod(r + k * a, L);
  return Buffer.concat([R, Buffer.from(S.toString(16).padStart(64, '0'), 'hex').reverse()]);
}
