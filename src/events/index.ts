export type { AcceptedEvent, IgnoredEvent, ParsedEvent, PushAction, PushEvent, PushEventKind, Recheck, RejectedEvent } from './types.ts';
export { parseEcrEvent, registryHost, signatureSubject, type SignatureArtifactKind } from './ecr.ts';
export {
  MAX_BATCH_RECORDS,
  MAX_BODY_BYTES,
  MAX_INPUT_BYTES,
  MAX_JSON_DEPTH,
  parseIncoming,
  parseSqsBatch,
  recheckBody,
  RECHECK_MARKER,
  type IncomingBatch,
  type IncomingRecord,
  type SqsBatchResult,
  type SqsRecordResult,
} from './envelope.ts';
