import { core } from './core.ts';
import { encodingBuiltins } from './encoding.ts';
import { stringBuiltins } from './strings.ts';
import { timeBuiltins } from './time.ts';
import type { Registry } from './types.ts';
import { unitBuiltins } from './units.ts';

export { BuiltinError, type BuiltinContext } from './types.ts';
export { walkPairs } from './core.ts';

/** Every built-in this engine has, by OPA's name. */
export const builtins: Registry = { ...core, ...stringBuiltins, ...encodingBuiltins, ...timeBuiltins, ...unitBuiltins };
