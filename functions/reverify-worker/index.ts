/**
 * Reverify worker: batches of the reverify queue in, verdicts compared with the
 * stored ones and only changes published; listings continued (docs/reverify.md).
 * Built once per cold start from the environment (docs/runtime.md).
 */
import { systemClock } from '../../src/clock.ts';
import { defaultClients } from '../../src/pipeline/assemble.ts';
import { readEnvironment } from '../../src/pipeline/environment.ts';
import { assembleReverify } from '../../src/reverify/assemble.ts';
import { workerHandler } from './handler.ts';

const env = readEnvironment(process.env, { table: true, reverifyQueue: true });

export const handler = workerHandler(assembleReverify(env, defaultClients(), { functionName: 'reverify-worker', now: systemClock }));
