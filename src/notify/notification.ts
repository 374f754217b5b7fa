/**
 * The notification: what sigwatch tells an owning team about one image. It is
 * a versioned JSON document (consumers branch on `schemaVersion`, and fields
 * are only ever added within a version) plus a few SNS message attributes, so
 * that subscriptions can filter without parsing the body.
 */
import { isNoVerdict, type Decision, type NoVerdict, type PolicyResult, type Verdict, type VerdictError } from '../verify/verdict.ts';

export const SCHEMA_VERSION = 1;

/** SNS's limit for one message: body plus attribute names, types and values. */
export const MAX_MESSAGE_BYTES = 256 * 1024;

/** Appended to any text or list the size guard shortened. */
export const TRUNCATION_MARKER = '…[truncated]';

export type NotificationVerdict = Decision | 'error';
export type Trigger = 'push' | 'reverify' | 'policy-change';

export interface NotificationSigner {
  /** Digest of the signature object that verified. */
  signature: string;
  issuer?: string;
  subject?: string;
  key?: string;
}

export interface NotificationAuthority {
  name: string;
  verdict: 'pass' | 'fail';
  reason: string;
  signers: NotificationSigner[];
  /** How many signers the size guard left out. */
  signersOmitted?: number;
}

export interface NotificationPolicy {
  name: string;
  mode: 'enforce' | 'warn';
  verdict: 'pass' | 'fail';
  reason?: string;
  /** The policy object (file and version) that judged: verdicts are reproducible. */
  source?: { file: string; version?: string };
  notes?: string[];
  authorities: NotificationAuthority[];
  /** How many authorities the size guard left out. */
  authoritiesOmitted?: number;
}

export interface Notification {
  schemaVersion: typeof SCHEMA_VERSION;
  /** `registry/repository@digest`: pinned, so the verdict names exactly what was judged. */
  image: string;
  digest: string;
  registry: string;
  repository: string;
  account?: string;
  region?: string;
  tags: string[];
  team?: string;
  verdict: NotificationVerdict;
  policies: NotificationPolicy[];
  /** How many policies the size guard left out. */
  policiesOmitted?: number;
  reasons: string[];
  /** ISO 8601. */
  time: string;
  trigger: Trigger;
  /** The event that caused this verdict, when there was one (absent for re-verification). */
  eventId?: string;
  /** Present when the size guard shortened anything. */
  truncated?: true;
  /**
   * With verdict `error` when the cause has a code: `DEADLINE`, `REGISTRY_UNREACHABLE`
   * ("could not verify": the image was not judged, see docs/notifications.md).
   */
  error?: VerdictError;
}

/** Something that delivers notifications: SNS in Lambda, stdout locally. */
export interface Notifier {
  publish(n: Notification): Promise<void>;
}

export interface NotificationInput {
  /** A verdict, or why none could be reached (configuration, access): the team hears either way. */
  verdict: Verdict | NoVerdict;
  image: { registry: string; repository: string; digest: string; tags: string[]; account?: string; region?: string };
  team?: string;
  trigger: Trigger;
  time: Date;
  eventId?: string;
}

export function buildNotification(input: NotificationInput): Notification {
  const { image, verdict } = input;
  const failed = isNoVerdict(verdict);
  // A deny that is "could not verify" goes out as `error`, its policies and reasons kept.
  const cause = failed ? (verdict.code ? { code: verdict.code, message: verdict.error } : undefined) : verdict.error;
  return {
    schemaVersion: SCHEMA_VERSION,
    image: `${image.registry}/${image.repository}@${image.digest}`,
    digest: image.digest,
    registry: image.registry,
    repository: image.repository,
    ...(image.account !== undefined ? { account: image.account } : {}),
    ...(image.region !== undefined ? { region: image.region } : {}),
    tags: [...image.tags],
    ...(input.team !== undefined ? { team: input.team } : {}),
    verdict: failed || cause ? 'error' : verdict.verdict,
    policies: failed ? [] : verdict.policies.map(policyOf),
    reasons: failed ? [verdict.error] : [...verdict.reasons],
    time: input.time.toISOString(),
    trigger: input.trigger,
    ...(input.eventId !== undefined ? { eventId: input.eventId } : {}),
    ...(cause ? { error: { code: cause.code, message: cause.message } } : {}),
  };
}

function policyOf(p: PolicyResult): NotificationPolicy {
  return {
    name: p.name,
    mode: p.mode,
    verdict: p.verdict,
    ...(p.reason !== undefined ? { reason: p.reason } : {}),
    ...(p.source !== undefined ? { source: { ...p.source } } : {}),
    ...(p.notes?.length ? { notes: [...p.notes] } : {}),
    authorities: p.authorities.map((a) => ({
      name: a.name,
      verdict: a.verdict,
      reason: a.reason,
      signers: a.signatures.map((s) => ({ signature: s.digest, ...s.identity })),
    })),
  };
}

// --- Message attributes -----------------------------------------------------

/** Structurally an SNS `MessageAttributeValue`, without tying this module to the SDK. */
export interface MessageAttribute {
  DataType: 'String' | 'String.Array';
  StringValue: string;
}

/**
 * Caps on attribute values, well inside SNS's message limit. A value over its
 * cap is left out (or, for `policy`, loses whole names) rather than cut: a cut
 * value would never match the filter written for the real one.
 */
const MAX_STRING_ATTRIBUTE_BYTES = 256;
const MAX_POLICY_ATTRIBUTE_BYTES = 1024;

/** What SNS accepts in an attribute value: XML 1.0 characters. */
const XML_CHARS = /^[\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;

/**
 * The attributes subscriptions filter on: `verdict`, `account`, `repository`,
 * `team` (String) and `policy` (String.Array of the policies that matched the
 * image). Five, under SQS's ten-attribute limit for raw delivery; absent
 * values are left out because SNS rejects empty ones.
 */
export function messageAttributes(n: Notification): Record<string, MessageAttribute> {
  const attributes: Record<string, MessageAttribute> = {};
  const text = (name: string, value: string | undefined) => {
    if (value && fitsAttribute(value, MAX_STRING_ATTRIBUTE_BYTES)) attributes[name] = { DataType: 'String', StringValue: value };
  };
  text('verdict', n.verdict);
  text('account', n.account);
  text('repository', n.repository);
  text('team', n.team);
  const names: string[] = [];
  for (const name of new Set(n.policies.map((p) => p.name))) {
    if (fitsAttribute(JSON.stringify([...names, name]), MAX_POLICY_ATTRIBUTE_BYTES)) names.push(name);
  }
  // SNS wants a String.Array as a JSON array in StringValue.
  if (names.length > 0) attributes.policy = { DataType: 'String.Array', StringValue: JSON.stringify(names) };
  return attributes;
}

function fitsAttribute(value: string, maxBytes: number): boolean {
  return Buffer.byteLength(value, 'utf8') <= maxBytes && XML_CHARS.test(value);
}

/** How SNS counts attributes against the message limit: name, data type and value. */
function attributesBytes(attributes: Record<string, MessageAttribute>): number {
  let total = 0;
  for (const [name, a] of Object.entries(attributes)) total += Buffer.byteLength(name + a.DataType + a.StringValue, 'utf8');
  return total;
}

// --- Size guard --------------------------------------------------------------

export interface EncodedNotification {
  /** The notification as sent: shortened when the original did not fit. */
  notification: Notification;
  body: string;
  attributes: Record<string, MessageAttribute>;
}

/** The SNS message for `n`: compact JSON and attributes, together under `maxBytes`. */
export function encodeNotification(n: Notification, maxBytes = MAX_MESSAGE_BYTES): EncodedNotification {
  const attributes = messageAttributes(n);
  const notification = fitNotification(n, maxBytes - attributesBytes(attributes));
  return { notification, body: JSON.stringify(notification), attributes };
}

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');

/** Successively tighter limits on free text (characters) and list lengths. */
const STAGES: readonly Limits[] = [
  { text: 8192, items: 64 },
  { text: 1024, items: 16 },
  { text: 128, items: 4 },
  { text: 32, items: 1 },
];

interface Limits {
  text: number;
  items: number;
}

/**
 * `n` when its JSON fits in `maxBytes`; otherwise a copy with reasons, notes,
 * authorities and signers shortened (each cut marked) and, as a last resort,
 * trailing policies left out. A verdict that cannot be delivered whole is
 * still worth delivering: verdict, image and policy names survive every stage.
 */
function fitNotification(n: Notification, maxBytes: number): Notification {
  if (jsonBytes(n) <= maxBytes) return n;
  let cut = n;
  for (const limits of STAGES) {
    cut = shorten(n, limits);
    if (jsonBytes(cut) <= maxBytes) return cut;
  }
  // Keep the longest prefix of policies that fits next to everything else.
  const rest = { ...cut, policies: [], policiesOmitted: cut.policies.length };
  let size = jsonBytes(rest);
  let kept = 0;
  for (const p of cut.policies) {
    const next = size + jsonBytes(p) + (kept > 0 ? 1 : 0);
    if (next > maxBytes) break;
    size = next;
    kept++;
  }
  const omitted = cut.policies.length - kept;
  return { ...cut, policies: cut.policies.slice(0, kept), ...(omitted > 0 ? { policiesOmitted: omitted } : {}) };
}

function shorten(n: Notification, limits: Limits): Notification {
  const text = (s: string) => cutText(s, limits.text);
  return {
    ...n,
    tags: cutList(n.tags, limits),
    reasons: cutList(n.reasons, limits),
    policies: n.policies.map((p) => {
      const authorities = p.authorities.slice(0, limits.items).map((a) => {
        // Identities are free text (a subject can be any URI); the signature digest is an identifier and stays whole.
        const signers = a.signers.slice(0, limits.items).map((s) => ({ ...mapStrings(s, text), signature: s.signature }));
        return { ...a, reason: text(a.reason), signers, ...omitted('signersOmitted', a.signers.length - signers.length) };
      });
      return {
        ...p,
        ...(p.reason !== undefined ? { reason: text(p.reason) } : {}),
        ...(p.notes !== undefined ? { notes: cutList(p.notes, limits) } : {}),
        authorities,
        ...omitted('authoritiesOmitted', p.authorities.length - authorities.length),
      };
    }),
    truncated: true,
  };
}

function omitted<K extends string>(key: K, count: number): Partial<Record<K, number>> {
  return count > 0 ? ({ [key]: count } as Record<K, number>) : {};
}

function mapStrings<T extends object>(o: T, f: (s: string) => string): T {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'string' ? f(v) : v])) as T;
}

function cutList(list: string[], limits: Limits): string[] {
  const kept = list.slice(0, limits.items).map((s) => cutText(s, limits.text));
  if (list.length > kept.length) kept.push(`${TRUNCATION_MARKER} ${list.length - kept.length} more`);
  return kept;
}

function cutText(s: string, max: number): string {
  if (s.length <= max) return s;
  // Do not split a surrogate pair: half a character is not text.
  const end = /[\uD800-\uDBFF]/.test(s.charAt(max - 1)) ? max - 1 : max;
  return s.slice(0, end) + TRUNCATION_MARKER;
}
