export type { AccountConfig, Association, ConfigProblem, Defaults, ExternalIdSource, GroupConfig, Operators, ReverifyConfig, SigwatchConfig } from './types.ts';
export { configError, formatConfigProblem, MAX_CONFIG_BYTES, parseConfig, type ConfigParseOptions, type ConfigResult } from './config.ts';
export { AccountDirectory, type EffectiveGroup, type ImageOwner, type KnownAccount, type Resolution, type UnknownAccount } from './groups.ts';
export {
  AssumeRoleError,
  AwsSessions,
  REFRESH_BEFORE_EXPIRY_MS,
  roleSessionName,
  type AssumeRoleFailure,
  type AwsCredentials,
  type AwsSessionsOptions,
  type ExternalIdResolver,
  type SessionPurpose,
} from './sts.ts';
