export {
  buildNotification,
  encodeNotification,
  fitNotification,
  messageAttributes,
  MAX_MESSAGE_BYTES,
  MAX_POLICY_ATTRIBUTE_BYTES,
  MAX_STRING_ATTRIBUTE_BYTES,
  SCHEMA_VERSION,
  TRUNCATION_MARKER,
  type EncodedNotification,
  type MessageAttribute,
  type Notification,
  type NotificationAuthority,
  type NotificationInput,
  type NotificationPolicy,
  type NotificationSigner,
  type NotificationVerdict,
  type Notifier,
  type Trigger,
} from './notification.ts';
export { deduplicationId, publishInput, SnsNotifier, type SnsNotifierOptions, type TopicRouter } from './sns.ts';
export { StdoutNotifier, summaryLine, type StdoutFormat, type TextWriter } from './stdout.ts';
