/**
 * Policy change: S3 Object Created/Deleted events of the config bucket's policies
 * in, re-verification of the images those policies' globs match planned (docs/reverify.md).
 * Built once per cold start from the environment (docs/runtime.md).
 */
import { systemClock } from '../../src/clock.ts';
import { defaultClients } from '../../src/pipeline/assemble.ts';
import { readEnvironment } from '../../src/pipeline/environment.ts';
import { assembleReverify } from '../../src/reverify/assemble.ts';
import { policyChangeHandler } from './handler.ts';

const env = readEnvironment(process.env, { table: true, reverifyQueue: true });

export const handler = policyChangeHandler(assembleReverify(env, defaultClients(), { functionName: 'policy-change', now: systemClock }));
