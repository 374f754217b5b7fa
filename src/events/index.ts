export type { AcceptedEvent, IgnoredEvent, ParsedEvent, PushAction, PushEvent, PushEventKind, RejectedEvent } from './types.ts';
export { parseEcrEvent, registryHost, signatureSubject, type SignatureArtifactKind } from './ecr.ts';
export {
  MAX_BATCH_RECORDS,
  MAX_BODY_BYTES,
  MAX_INPUT_BYTES,
  MAX_JSON_DEPTH,
  parseIncoming,
  parseSqsBatch,
  type IncomingBatch,
  type IncomingRecord,
  type SqsBatchResult,
  type SqsRecordResult,
} from './envelope.ts';
