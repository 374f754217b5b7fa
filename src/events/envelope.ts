import { reasonOf } from '../errors.ts';
import { describeValue, own, parseEcrEvent } from './ecr.ts';
import { isObject } from '../json.ts';
import { rejected, type ParsedEvent, type Recheck } from './types.ts';

/**
 * Unwraps what the Lambda is invoked with (an SQS batch whose bodies are
 * EventBridge events, or a bare EventBridge event) and what `sigwatch invoke`
 * reads from a file (the JSON text of either). A bad record becomes a
 * rejection for its own messageId; only input that is not a batch at all is a
 * batch error, so one poisoned message never costs the others their verdicts.
 */

/** SQS's maximum message size: a bigger body did not come from SQS. */
export const MAX_BODY_BYTES = 256 * 1024;
/** ECR events nest three levels deep; anything far deeper is garbage, not an event. */
const MAX_JSON_DEPTH = 32;
/** Lambda's largest SQS batch. */
const MAX_BATCH_RECORDS = 10_000;
/** Lambda's synchronous payload limit, which also bounds an `invoke` file. */
export const MAX_INPUT_BYTES = 6 * 1024 * 1024;

// messageId goes back to Lambda verbatim in batchItemFailures: bounded, printable.
const MESSAGE_ID_RE = /^[\x21-\x7e]{1,128}$/;
const RECEIVE_COUNT_RE = /^[1-9]\d{0,8}$/;
// How much of JSON.parse's message (which quotes the input) a reason keeps.
const PARSE_MESSAGE_CHARS = 120;

export interface SqsRecordResult {
  /** "" only when the record has no usable messageId (never the case for a real SQS record). */
  messageId: string;
  /** attributes.ApproximateReceiveCount, when present and a positive integer. */
  receiveCount?: number;
  parsed: ParsedEvent;
}

export interface SqsBatchResult {
  records: SqsRecordResult[];
  /** Set when the input is not an SQS batch; records is then empty. */
  batchError?: string;
}

export interface IncomingRecord {
  /** Absent for a bare EventBridge event. */
  messageId?: string;
  receiveCount?: number;
  parsed: ParsedEvent;
}

export interface IncomingBatch {
  source: 'sqs' | 'eventbridge' | 'invalid';
  records: IncomingRecord[];
  batchError?: string;
}

export function parseSqsBatch(event: unknown): SqsBatchResult {
  if (!isObject(event)) return { records: [], batchError: `event: expected an SQS batch object, got ${describeValue(event)}` };
  const records = own(event, 'Records');
  if (!Array.isArray(records)) return { records: [], batchError: `Records: expected an array, got ${describeValue(records)}` };
  if (records.length > MAX_BATCH_RECORDS) {
    return { records: [], batchError: `Records: ${records.length} records, over Lambda's ${MAX_BATCH_RECORDS}-record batch limit` };
  }
  return { records: records.map((record: unknown, i) => parseSqsRecord(record, `Records[${i}]`)) };
}

/**
 * Anything the handler or the CLI may be given: an SQS batch, a bare
 * EventBridge event, or the JSON text of either (an `invoke` file).
 */
export function parseIncoming(input: unknown): IncomingBatch {
  let value = input;
  if (typeof input === 'string') {
    const json = parseJsonText(input, MAX_INPUT_BYTES, 'input');
    if (!json.ok) return { source: 'invalid', records: [], batchError: json.reason };
    value = json.value;
  }
  if (!isObject(value)) {
    return { source: 'invalid', records: [], batchError: `input: expected an EventBridge event or an SQS batch, got ${describeValue(value)}` };
  }
  if (Object.hasOwn(value, 'Records')) return { source: 'sqs', ...parseSqsBatch(value) };
  // Anything else is read as an EventBridge event, whose rejection then names the missing field.
  return { source: 'eventbridge', records: [{ parsed: withRaw(parseEcrEvent(value), value) }] };
}

function parseSqsRecord(record: unknown, where: string): SqsRecordResult {
  if (!isObject(record)) return { messageId: '', parsed: rejected(`${where}: expected an SQS record object, got ${describeValue(record)}`) };
  const id = own(record, 'messageId');
  if (typeof id !== 'string' || !MESSAGE_ID_RE.test(id)) {
    return { messageId: '', parsed: rejected(`${where}.messageId: expected an SQS message id, got ${describeValue(id)}`) };
  }
  let parsed: ParsedEvent;
  try {
    parsed = parseRecordBody(record, where);
  } catch (err) {
    // Only plain JSON data is read here, so this should not happen; if it
    // ever does, this record fails alone and the batch goes on.
    parsed = rejected(`${where}: unexpected error reading the record: ${reasonOf(err).slice(0, PARSE_MESSAGE_CHARS)}`);
  }
  const receiveCount = approximateReceiveCount(record);
  return receiveCount === undefined ? { messageId: id, parsed } : { messageId: id, receiveCount, parsed };
}

function parseRecordBody(record: Record<string, unknown>, where: string): ParsedEvent {
  const eventSource = own(record, 'eventSource');
  if (eventSource !== undefined && eventSource !== 'aws:sqs') {
    return rejected(`${where}.eventSource: expected "aws:sqs", got ${describeValue(eventSource)}`);
  }
  const body = own(record, 'body');
  if (body === undefined) return rejected(`${where}.body: missing`);
  if (typeof body !== 'string') return rejected(`${where}.body: expected a string, got ${describeValue(body)}`);
  const json = parseJsonText(body, MAX_BODY_BYTES, `${where}.body`);
  if (!json.ok) return rejected(json.reason);
  if (isObject(json.value) && Object.hasOwn(json.value, RECHECK_MARKER)) return parseRecheck(json.value, `${where}.body`);
  return withRaw(parseEcrEvent(json.value), json.value);
}

function withRaw(parsed: ParsedEvent, raw: unknown): ParsedEvent {
  return parsed.ok ? { ...parsed, raw } : parsed;
}

/** The marker field of sigwatch's own re-check messages (docs/runtime.md). */
const RECHECK_MARKER = 'sigwatch';
const RECHECK_VERSION = 1;
/** Far more re-checks than any grace period needs: a message past this is a loop, not a re-check. */
const MAX_RECHECK_ATTEMPTS = 100;
const ISO_TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;

/** The body of a re-check message for `event` (the EventBridge event as first received). */
export function recheckBody(event: unknown, recheck: Recheck): string {
  return JSON.stringify({ [RECHECK_MARKER]: 'recheck', version: RECHECK_VERSION, firstSeen: recheck.firstSeen, attempt: recheck.attempt, event });
}

function parseRecheck(body: Record<string, unknown>, where: string): ParsedEvent {
  const kind = own(body, RECHECK_MARKER);
  if (kind !== 'recheck') return rejected(`${where}.${RECHECK_MARKER}: expected "recheck", got ${describeValue(kind)}`);
  const version = own(body, 'version');
  if (version !== RECHECK_VERSION) return rejected(`${where}.version: expected ${RECHECK_VERSION}, got ${describeValue(version)}`);
  const firstSeen = own(body, 'firstSeen');
  if (typeof firstSeen !== 'string' || !ISO_TIME_RE.test(firstSeen) || Number.isNaN(Date.parse(firstSeen))) {
    return rejected(`${where}.firstSeen: expected an RFC 3339 UTC time, got ${describeValue(firstSeen)}`);
  }
  const attempt = own(body, 'attempt');
  if (typeof attempt !== 'number' || !Number.isInteger(attempt) || attempt < 1 || attempt > MAX_RECHECK_ATTEMPTS) {
    return rejected(`${where}.attempt: expected an integer from 1 to ${MAX_RECHECK_ATTEMPTS}, got ${describeValue(attempt)}`);
  }
  const raw = own(body, 'event');
  const parsed = parseEcrEvent(raw);
  if (!parsed.ok) return parsed.ignored ? parsed : rejected(`${where}.event: ${parsed.reason}`);
  return { ...parsed, recheck: { firstSeen, attempt }, raw };
}

function approximateReceiveCount(record: Record<string, unknown>): number | undefined {
  const attributes = own(record, 'attributes');
  const count = isObject(attributes) ? own(attributes, 'ApproximateReceiveCount') : undefined;
  return typeof count === 'string' && RECEIVE_COUNT_RE.test(count) ? Number(count) : undefined;
}

type JsonText = { ok: true; value: unknown } | { ok: false; reason: string };

/** JSON.parse behind a size and a depth limit, checked before parsing so garbage costs no allocation. */
function parseJsonText(text: string, maxBytes: number, path: string): JsonText {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > maxBytes) return { ok: false, reason: `${path}: ${bytes} bytes, over the ${maxBytes}-byte limit` };
  if (nestingExceeds(text, MAX_JSON_DEPTH)) return { ok: false, reason: `${path}: JSON nested deeper than ${MAX_JSON_DEPTH} levels` };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, reason: `${path}: not JSON (${reasonOf(err).slice(0, PARSE_MESSAGE_CHARS)})` };
  }
}

/** Whether brackets outside JSON strings nest deeper than max. */
function nestingExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return false;
}
