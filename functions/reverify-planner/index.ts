/**
 * Reverify planner: started by the daily schedule, lists every associated account's
 * repositories and images and sends them to the reverify queue (docs/reverify.md).
 * Built once per cold start from the environment (docs/runtime.md).
 */
import { systemClock } from '../../src/clock.ts';
import { defaultClients } from '../../src/pipeline/assemble.ts';
import { readEnvironment } from '../../src/pipeline/environment.ts';
import { assembleReverify } from '../../src/reverify/assemble.ts';
import { plannerHandler } from './handler.ts';

const env = readEnvironment(process.env, { table: true, reverifyQueue: true });

export const handler = plannerHandler(assembleReverify(env, defaultClients(), { functionName: 'reverify-planner', now: systemClock }));
