/**
 * On-push Lambda: SQS batches of ECR push events in, verdicts to SNS, failed
 * records reported for retry. Built once per cold start from the environment
 * (docs/runtime.md); warm invocations reuse its sessions, tokens and caches.
 */
import { systemClock } from '../../src/clock.ts';
import { assembleOnPush, defaultClients } from '../../src/pipeline/assemble.ts';
import { readEnvironment } from '../../src/pipeline/environment.ts';
import { onPushHandler } from './handler.ts';

const env = readEnvironment(process.env, { table: true, pushQueue: true });

export const handler = onPushHandler(assembleOnPush(env, defaultClients(), { now: systemClock }));
